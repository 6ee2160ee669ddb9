package pop

import (
	"crypto/rand"
	"sync"
)

// jtiBatch is how many crypto/rand bytes one refill draws: 64 jtis. The
// refill is what a per-token read used to cost every time (uuid.NewString
// read 16 bytes per call); batching spreads it over 64 tokens.
const jtiBatch = 1024

// randBatch is a run of crypto/rand bytes that jtis are cut from, each byte
// used once. Only one goroutine holds a batch at a time (it lives in a
// sync.Pool between uses), so there is no lock, and a batch is normally
// reused on the same P.
type randBatch struct {
	buf [jtiBatch]byte
	off int
}

// jtiPool starts every new batch empty, so its first use refills it.
var jtiPool = sync.Pool{New: func() any { return &randBatch{off: jtiBatch} }}

// fillRandom never fails: crypto/rand.Read crashes the program rather than
// return predictable bytes.
func fillRandom(b []byte) { _, _ = rand.Read(b) }

// appendRandomUUID appends a random (version 4) UUID in its 36-character
// text form, the same shape uuid.NewString and T-Mobile's Java builder
// (UUID.randomUUID) produce. 122 of its bits come from crypto/rand, so a jti
// stays unpredictable.
func appendRandomUUID(dst []byte) []byte {
	rb := jtiPool.Get().(*randBatch)
	dst = rb.appendUUID(dst, fillRandom)
	jtiPool.Put(rb)
	return dst
}

// appendUUID takes the next 16 bytes of the batch, refilling it with fill
// when it is used up. fill is a parameter so tests can count refills and
// check that no byte is handed out twice.
func (rb *randBatch) appendUUID(dst []byte, fill func([]byte)) []byte {
	if rb.off+16 > len(rb.buf) {
		fill(rb.buf[:])
		rb.off = 0
	}
	var u [16]byte
	copy(u[:], rb.buf[rb.off:rb.off+16])
	rb.off += 16
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant RFC 9562
	const hexDigits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}
