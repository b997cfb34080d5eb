/** The text as a regular expression that matches it literally (for $regex: client text never becomes a pattern). */
export const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
