package memstore

import "slices"

// writes is a unit of work's writes of one kind, in the order made, found
// by key: searched in place while few (a redemption writes one card, one
// account, one record), indexed by a map once many (an issuance writes
// thousands of cards). Its slices keep their capacity from one unit of
// work to the next, so a small unit allocates nothing here.
type writes[K comparable, V any] struct {
	keys  []K
	vals  []V
	index map[K]int // nil while len(keys) <= indexFrom
	spare map[K]int // the last unit's index, cleared, for the next that needs one
}

const indexFrom = 16

func (w *writes[K, V]) reset() {
	clear(w.keys) // drop references to the last unit's values
	clear(w.vals)
	if w.index != nil {
		clear(w.index)
		w.spare = w.index
	}
	w.keys, w.vals, w.index = w.keys[:0], w.vals[:0], nil
}

// newIndex returns an empty index with room for n keys: the spare one if
// there is one, so that unit after unit of a large batch does not make a
// map anew and grow it.
func (w *writes[K, V]) newIndex(n int) map[K]int {
	if m := w.spare; m != nil {
		w.spare = nil
		return m
	}
	return make(map[K]int, n)
}

func (w *writes[K, V]) find(k K) int {
	if w.index != nil {
		if i, ok := w.index[k]; ok {
			return i
		}
		return -1
	}
	for i := range w.keys {
		if w.keys[i] == k {
			return i
		}
	}
	return -1
}

func (w *writes[K, V]) get(k K) (V, bool) {
	if i := w.find(k); i >= 0 {
		return w.vals[i], true
	}
	var zero V
	return zero, false
}

// slot returns the value written under k, adding a zero one if there is
// none, for the caller to fill in.
func (w *writes[K, V]) slot(k K) *V {
	if i := w.find(k); i >= 0 {
		return &w.vals[i]
	}
	w.keys = append(w.keys, k)
	var zero V
	w.vals = append(w.vals, zero)
	switch n := len(w.keys); {
	case w.index != nil:
		w.index[k] = n - 1
	case n > indexFrom:
		w.index = w.newIndex(2 * n)
		for i, key := range w.keys {
			w.index[key] = i
		}
	}
	return &w.vals[len(w.vals)-1]
}

func (w *writes[K, V]) put(k K, v V) { *w.slot(k) = v }

// grow makes room for n more writes, building the index at its final size
// when they will need one, so a large batch does not rehash it as it goes.
func (w *writes[K, V]) grow(n int) {
	total := len(w.keys) + n
	w.keys, w.vals = slices.Grow(w.keys, n), slices.Grow(w.vals, n)
	if total > indexFrom && w.index == nil {
		w.index = w.newIndex(total)
		for i, key := range w.keys {
			w.index[key] = i
		}
	}
}
