/**
 * The few Reflect metadata functions @peculiar/x509's dependency injection
 * (tsyringe) looks for, so that the test's certificate factory loads without
 * the reflect-metadata package. Import it before @peculiar/x509.
 */
type Target = object;
const store = new WeakMap<Target, Map<string | symbol | undefined, Map<unknown, unknown>>>();

const table = (target: Target, property: string | symbol | undefined, create: boolean) => {
  let byProperty = store.get(target);
  if (!byProperty && create) store.set(target, (byProperty = new Map()));
  let entries = byProperty?.get(property);
  if (!entries && create) byProperty!.set(property, (entries = new Map()));
  return entries;
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  reflect.defineMetadata = (key: unknown, value: unknown, target: Target, property?: string | symbol) => {
    table(target, property, true)!.set(key, value);
  };
  reflect.getOwnMetadata = (key: unknown, target: Target, property?: string | symbol) => table(target, property, false)?.get(key);
  reflect.getMetadata = (key: unknown, target: Target, property?: string | symbol): unknown => {
    for (let current: Target | null = target; current; current = Object.getPrototypeOf(current)) {
      const entries = table(current, property, false);
      if (entries?.has(key)) return entries.get(key);
    }
    return undefined;
  };
}

export {};
