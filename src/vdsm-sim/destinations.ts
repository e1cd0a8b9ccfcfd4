/**
 * Subscriptions by STOMP destination, with VDSM's routing rule (stompserver.find_subscribers): a
 * SEND to `a.b.c` reaches the subscriptions of `a`, `a.b` and `a.b.c`.
 *
 * VDSM (and this simulator before) joined every prefix anew and copied a destination's list on
 * each (un)subscribe: quadratic in the segments of one destination and in the subscriptions of
 * one destination. Here a radix tree over `.`-separated segments makes routing linear in the
 * destination's length (plus the matches), and SUBSCRIBE/UNSUBSCRIBE independent of how many
 * subscriptions exist. Nodes exist only where a destination ends or paths branch, so memory stays
 * proportional to the subscriptions, not to their segments.
 */

interface RadixNode<T> {
  /** Segments from the parent to this node, joined by `.` (the root's is ''). */
  label: string;
  parent: RadixNode<T> | undefined;
  /** Keyed by the first segment of the child's label. */
  children: Map<string, RadixNode<T>>;
  members: Set<T>;
}

function firstSegment(text: string, from = 0): string {
  const dot = text.indexOf('.', from);
  return dot < 0 ? text.slice(from) : text.slice(from, dot);
}

/** Whether `label` sits in `text` at `pos` as whole segments. */
function matchesAt(text: string, pos: number, label: string): boolean {
  const end = pos + label.length;
  return text.startsWith(label, pos) && (end === text.length || text.charCodeAt(end) === 0x2e);
}

export class DestinationIndex<T> {
  private readonly root: RadixNode<T> = {
    label: '',
    parent: undefined,
    children: new Map(),
    members: new Set(),
  };
  /** Where each member was added, so removal needs no search. */
  private readonly nodeOf = new Map<T, RadixNode<T>>();

  get size(): number {
    return this.nodeOf.size;
  }

  /** Adds `member` under `destination` (non-empty). A member lives under one destination. */
  add(destination: string, member: T): void {
    if (destination === '') throw new Error('empty destination');
    if (this.nodeOf.has(member)) throw new Error('member already added');
    const node = this.nodeFor(destination);
    node.members.add(member);
    this.nodeOf.set(member, node);
  }

  remove(member: T): void {
    const node = this.nodeOf.get(member);
    if (!node) return;
    this.nodeOf.delete(member);
    node.members.delete(member);
    this.prune(node);
  }

  /** Members of `destination` and of each of its `.`-parents, shortest destination first. */
  matching(destination: string): T[] {
    const found: T[] = [];
    let node = this.root;
    let pos = 0;
    for (;;) {
      const child = node.children.get(firstSegment(destination, pos));
      if (!child || !matchesAt(destination, pos, child.label)) break;
      for (const member of child.members) found.push(member);
      pos += child.label.length + 1;
      if (pos > destination.length) break;
      node = child;
    }
    return found;
  }

  /** Members of exactly `destination`. */
  exact(destination: string): T[] {
    let node = this.root;
    let pos = 0;
    for (;;) {
      const child = node.children.get(firstSegment(destination, pos));
      if (!child || !matchesAt(destination, pos, child.label)) return [];
      pos += child.label.length + 1;
      if (pos > destination.length) return [...child.members];
      node = child;
    }
  }

  /** The node that ends exactly at `destination`, created (splitting an edge) if needed. */
  private nodeFor(destination: string): RadixNode<T> {
    let node = this.root;
    let pos = 0;
    for (;;) {
      const key = firstSegment(destination, pos);
      const child = node.children.get(key);
      if (!child) {
        const leaf: RadixNode<T> = {
          label: destination.slice(pos),
          parent: node,
          children: new Map(),
          members: new Set(),
        };
        node.children.set(key, leaf);
        return leaf;
      }
      if (matchesAt(destination, pos, child.label)) {
        pos += child.label.length + 1;
        if (pos > destination.length) return child;
        node = child;
        continue;
      }
      // The child's label and the destination share whole segments up to `common` (at least the key).
      const common = commonSegmentsLength(child.label, destination, pos);
      const middle: RadixNode<T> = {
        label: child.label.slice(0, common),
        parent: node,
        children: new Map(),
        members: new Set(),
      };
      node.children.set(key, middle);
      child.label = child.label.slice(common + 1);
      child.parent = middle;
      middle.children.set(firstSegment(child.label), child);
      pos += common + 1;
      if (pos > destination.length) return middle;
      node = middle;
    }
  }

  /** Drops a node left without members or children, and merges one left with a single child. */
  private prune(start: RadixNode<T>): void {
    let node: RadixNode<T> | undefined = start;
    while (node && node !== this.root && node.members.size === 0) {
      const parent: RadixNode<T> = node.parent!;
      if (node.children.size === 0) {
        parent.children.delete(firstSegment(node.label));
        node = parent;
        continue;
      }
      if (node.children.size === 1) {
        const only = node.children.values().next().value!;
        only.label = `${node.label}.${only.label}`;
        only.parent = parent;
        parent.children.set(firstSegment(node.label), only);
      }
      return;
    }
  }
}

/** Length of the longest run of whole segments `label` shares with `text` from `pos`. */
function commonSegmentsLength(label: string, text: string, pos: number): number {
  let lastBoundary = 0;
  let i = 0;
  for (; i < label.length && pos + i < text.length; i += 1) {
    const ch = label.charCodeAt(i);
    if (ch !== text.charCodeAt(pos + i)) return lastBoundary;
    if (ch === 0x2e) lastBoundary = i;
  }
  // The text ended where the label has a boundary: the label's head is the whole rest. (Had the
  // label ended instead, at a boundary of the text, matchesAt would have matched it.)
  return i < label.length && label.charCodeAt(i) === 0x2e ? i : lastBoundary;
}
