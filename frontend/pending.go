package frontend

import (
	"sync"

	"github.com/cordon-gateway/cordon"
)

// pending correlates answers with waiting requests by request id. Ids are
// fresh UUIDv7s made here, so an answer can only ever reach the request it
// was made for; an answer with no waiter (late, duplicate, replayed) is
// dropped.
type pending struct {
	mu      sync.Mutex
	waiters map[cordon.RequestID]chan *cordon.Message
}

func newPending() *pending {
	return &pending{waiters: make(map[cordon.RequestID]chan *cordon.Message)}
}

func (p *pending) add(id cordon.RequestID) chan *cordon.Message {
	ch := make(chan *cordon.Message, 1)
	p.mu.Lock()
	p.waiters[id] = ch
	p.mu.Unlock()
	return ch
}

func (p *pending) remove(id cordon.RequestID) {
	p.mu.Lock()
	delete(p.waiters, id)
	p.mu.Unlock()
}

// deliver hands m to its waiter, once; it reports false if none waits.
func (p *pending) deliver(m *cordon.Message) bool {
	p.mu.Lock()
	ch, ok := p.waiters[m.ID]
	delete(p.waiters, m.ID)
	p.mu.Unlock()
	if ok {
		ch <- m // buffered, and removed from the map: never blocks
	}
	return ok
}

func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}
