/** The syntax tree of a filter expression (grammar: docs/query-language.md). Every node knows its offset in the text. */

export type ComparisonOperator = 'EQ' | 'NE' | 'GT' | 'GE' | 'LT' | 'LE' | 'CONTAINS' | 'IN';

export type Literal =
  | { readonly kind: 'nil'; readonly offset: number }
  | { readonly kind: 'boolean'; readonly value: boolean; readonly offset: number }
  | { readonly kind: 'number'; readonly value: number; readonly offset: number }
  | { readonly kind: 'string'; readonly value: string; readonly offset: number }
  /**
   * An RFC 3339 date-time: `text` as written; `epochMs`, the instant in whole
   * milliseconds (rounded down); `subMs`, whether the fraction went below a millisecond.
   */
  | { readonly kind: 'datetime'; readonly text: string; readonly epochMs: number; readonly subMs: boolean; readonly offset: number };

export interface ListLiteral {
  readonly kind: 'list';
  readonly items: readonly Literal[];
  readonly offset: number;
}

/** `{ expression }`: the condition one element of a list of objects must meet. */
export interface ObjectLiteral {
  readonly kind: 'object';
  readonly expression: Expression;
  readonly offset: number;
}

export type Value = Literal | ListLiteral | ObjectLiteral;

export type Expression =
  | { readonly kind: 'or'; readonly left: Expression; readonly right: Expression; readonly offset: number }
  | { readonly kind: 'and'; readonly left: Expression; readonly right: Expression; readonly offset: number }
  | { readonly kind: 'not'; readonly operand: Expression; readonly offset: number }
  | {
      readonly kind: 'comparison';
      readonly field: string;
      readonly operator: ComparisonOperator;
      readonly value: Value;
      readonly offset: number;
      /** Where the operator is. */
      readonly operatorOffset: number;
    }
  | { readonly kind: 'search'; readonly value: Literal; readonly offset: number };
