/** Every layer gets the same selectable budget `B'`. */
export function uniformSchedule(selectable: number, layers: number): Int32Array {
  return new Int32Array(layers).fill(selectable);
}
