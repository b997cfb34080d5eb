/**
 * What a read model lets clients filter, search and sort by: each public field
 * name mapped to where its value lives in the read-model document and its type.
 * A read model declares its fields once (next to its queries); filterBy,
 * filter expressions, sorting, cursors and the OpenAPI `x-filterable`
 * extension all read that one declaration.
 */
export type FieldType = 'string' | 'date' | 'number' | 'boolean';

export interface ScalarField {
  /** Where the value lives in the read-model document. */
  readonly path: string;
  readonly type: FieldType;
  /** Included in `search` (strings only) and SEARCH (any type but numbers). Defaults to true. */
  readonly searchable?: boolean;
  /** The document holds a list of such values: EQ and CONTAINS test membership. */
  readonly list?: boolean;
}

/** A list of objects (tags, scopes): filter expressions compare its elements with `field CONTAINS {…}`. */
export interface ObjectListField {
  readonly path: string;
  readonly type: 'objects';
  /** The fields of one element, their paths relative to the element. */
  readonly fields: ListFields;
  readonly searchable?: boolean;
}

export type ListField = ScalarField | ObjectListField;

/** The public field names a list can sort and filter by, mapped to document paths. */
export type ListFields = Readonly<Record<string, ListField>>;

/** The field of that public name, if declared (never one inherited from Object.prototype). */
export const fieldNamed = (fields: ListFields, name: string): ListField | undefined => (Object.hasOwn(fields, name) ? fields[name] : undefined);

/** Whether SEARCH looks at the field (filterBy's `search` takes only the searchable strings of these). */
export const isSearchable = (field: ListField): boolean => field.searchable !== false;

/** The names clients may use, for error messages and `x-filterable`. */
export const filterableNames = (fields: ListFields): string[] => Object.keys(fields);

/** The fields every resource's metadata has. */
export const METADATA_FIELDS: ListFields = {
  id: { path: 'metadata.id', type: 'string', searchable: false },
  name: { path: 'metadata.name', type: 'string' },
  description: { path: 'metadata.description', type: 'string' },
  creationTime: { path: 'metadata.creationTime', type: 'date' },
  createdBy: { path: 'metadata.createdBy', type: 'string', searchable: false },
  modifiedTime: { path: 'metadata.modifiedTime', type: 'date' },
  provisioningStatus: { path: 'metadata.provisioningStatus', type: 'string', searchable: false },
  healthStatus: { path: 'metadata.healthStatus', type: 'string', searchable: false },
};

/** The fields of every organization-scoped resource's metadata. */
export const ORGANIZATION_SCOPED_FIELDS: ListFields = {
  ...METADATA_FIELDS,
  organizationId: { path: 'metadata.organizationId', type: 'string', searchable: false },
};
