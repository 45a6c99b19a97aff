package trail

import (
	"errors"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// Tree is the right edge of an RFC 6962 Merkle tree: the roots of its
// perfect subtrees, largest (leftmost) first, one per set bit of the size.
// That is all it takes to append a leaf and to compute the root, so the
// shipper and verify hold O(log n) hashes however long the log grows. The
// hashes are tlog's, so roots equal tlog.TreeHash of the same leaves.
type Tree struct {
	size  uint64
	nodes []tlog.Hash
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.size }

// Append adds one leaf hash.
func (t *Tree) Append(leaf tlog.Hash) {
	t.nodes = append(t.nodes, leaf)
	// Merge equal-sized subtrees, as a binary counter carries.
	for s := t.size; s&1 == 1; s >>= 1 {
		n := len(t.nodes)
		t.nodes[n-2] = tlog.NodeHash(t.nodes[n-2], t.nodes[n-1])
		t.nodes = t.nodes[:n-1]
	}
	t.size++
}

// Root is the tree hash. The empty tree's root is tlog's empty hash.
func (t *Tree) Root() tlog.Hash {
	if len(t.nodes) == 0 {
		h, _ := tlog.TreeHash(0, nil)
		return h
	}
	h := t.nodes[len(t.nodes)-1]
	for i := len(t.nodes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.nodes[i], h)
	}
	return h
}

// Clone returns an independent copy.
func (t *Tree) Clone() Tree {
	return Tree{size: t.size, nodes: append([]tlog.Hash(nil), t.nodes...)}
}

// Frontier encodes the subtree roots: 32 bytes each, left to right.
func (t *Tree) Frontier() []byte {
	b := make([]byte, 0, len(t.nodes)*tlog.HashSize)
	for _, h := range t.nodes {
		b = append(b, h[:]...)
	}
	return b
}

// ErrFrontier means a stored frontier does not fit its tree size.
var ErrFrontier = errors.New("trail: frontier does not match tree size")

// TreeFrom rebuilds a tree of size leaves from its frontier. The caller must
// still check Root against a signed checkpoint before trusting it.
func TreeFrom(size uint64, frontier []byte) (Tree, error) {
	n := bits.OnesCount64(size)
	if len(frontier) != n*tlog.HashSize {
		return Tree{}, ErrFrontier
	}
	t := Tree{size: size, nodes: make([]tlog.Hash, n)}
	for i := range t.nodes {
		copy(t.nodes[i][:], frontier[i*tlog.HashSize:])
	}
	return t, nil
}
