package egift

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/giftkit/giftkit/codefmt"
)

// KeyLen is the length of a sealing key: AES-256.
const KeyLen = 32

// ErrUnsealable: a delivery's sealed code cannot be opened: its key is not
// in the Keyring, or the stored bytes were changed. Like wallet.ErrCorrupt
// it is of no kind: no retry mends it (put the key back in the Keyring, or
// cancel the delivery and send another card).
var ErrUnsealable = errors.New("egift: sealed code cannot be opened")

// A Keyring holds the host's keys for sealing codes: the current one, which
// seals, and older ones, which still open what they sealed, so that a key
// is rotated without losing the deliveries not yet sent. Keep the keys in
// the host's secret store, apart from the database: whoever has both can
// read the codes of scheduled deliveries.
type Keyring struct {
	current keyID
	aeads   map[keyID]cipher.AEAD
}

// keyID names a key in a sealed code, without revealing it: the first four
// bytes of a SHA-256 of the key.
type keyID [4]byte

func idOf(key []byte) keyID {
	sum := sha256.Sum256(append([]byte("giftkit/egift key id\x00"), key...))
	return keyID(sum[:4])
}

// NewKeyring returns a Keyring that seals with current and opens with
// current and every key in old. Each key is KeyLen random bytes.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{current: idOf(current), aeads: map[keyID]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeyLen {
			return nil, fmt.Errorf("egift: key %d is %d bytes; want %d", i, len(key), KeyLen)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("egift: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("egift: key %d: %w", i, err)
		}
		id := idOf(key)
		if _, dup := k.aeads[id]; dup && i > 0 {
			return nil, errors.New("egift: a key is given twice")
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// sealVersion is the first byte of a sealed code: the layout is
// version, key ID (4 bytes), nonce (12 bytes), then the ciphertext and tag.
const sealVersion = 1

// additional binds a sealed code to its delivery and card: a sealed code
// copied to another delivery does not open.
func additional(d Delivery) []byte {
	return []byte("giftkit/egift/v1\x00" + d.ID + "\x00" + d.CardID)
}

// seal returns code sealed for d with the current key and a nonce from
// rand.
func (k *Keyring) seal(code codefmt.Code, d Delivery, rand io.Reader) ([]byte, error) {
	aead := k.aeads[k.current]
	out := make([]byte, 1+len(k.current)+aead.NonceSize(), 1+len(k.current)+aead.NonceSize()+codefmt.Len+2+aead.Overhead())
	out[0] = sealVersion
	copy(out[1:], k.current[:])
	nonce := out[1+len(k.current):]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("egift: read random source: %w", err)
	}
	var text [codefmt.Len + 2]byte
	plain, _ := code.AppendText(text[:0])
	return aead.Seal(out, nonce, plain, additional(d)), nil
}

// open returns the code d.Sealed holds, or ErrUnsealable.
func (k *Keyring) open(d Delivery) (codefmt.Code, error) {
	s := d.Sealed
	if len(s) < 1+4 || s[0] != sealVersion {
		return codefmt.Code{}, ErrUnsealable
	}
	aead, ok := k.aeads[keyID(s[1:5])]
	if !ok || len(s) < 5+aead.NonceSize()+aead.Overhead() {
		return codefmt.Code{}, ErrUnsealable
	}
	nonce := s[5 : 5+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, s[5+aead.NonceSize():], additional(d))
	if err != nil {
		return codefmt.Code{}, ErrUnsealable
	}
	code, err := codefmt.Parse(string(plain))
	if err != nil {
		return codefmt.Code{}, ErrUnsealable
	}
	return code, nil
}
