package codefmt

// Arithmetic in GF(32), the field of 32 elements built from the primitive
// polynomial x⁵ + x² + 1 (0b100101). Each code character is one element; the
// generator α = 2 (the polynomial x) has order 31, so α⁰ … α¹⁴ are distinct,
// which is what makes every pair of columns of the parity-check matrix
//
//	H = | 1   1   1  …  1   |
//	    | α⁰  α¹  α²  … α¹⁴ |
//
// linearly independent and gives the code its minimum distance of 3.
// Addition is XOR.

const gfPoly = 0b100101

// gfExp[i] = αⁱ, doubled so that products need no modulo; gfLog[αⁱ] = i
// (gfLog[0] is unused).
var gfExp, gfLog = func() (exp [62]byte, log [32]byte) {
	x := byte(1)
	for i := 0; i < 31; i++ {
		exp[i], exp[i+31] = x, x
		log[x] = byte(i)
		x <<= 1
		if x&0b100000 != 0 {
			x ^= gfPoly
		}
	}
	return exp, log
}()

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

// gfDiv returns a/b; b must not be zero.
func gfDiv(a, b byte) byte {
	if a == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+31-int(gfLog[b])]
}

// alphaMul[i][x] = αⁱ·x, so that a syndrome costs one lookup per character.
var alphaMul = func() (t [Len][32]byte) {
	for i := range t {
		for x := range t[i] {
			t[i][x] = gfMul(gfExp[i], byte(x))
		}
	}
	return t
}()

// syndromes returns S₀ = Σ vᵢ and S₁ = Σ αⁱ vᵢ. A code is valid iff both are 0.
// Every vᵢ must be below 32.
func syndromes(v *[Len]byte) (s0, s1 byte) {
	for i, x := range v {
		s0 ^= x
		s1 ^= alphaMul[i][x&31]
	}
	return s0, s1
}

// checkSymbols returns v₁₃ and v₁₄ that make v a valid code, solving
//
//	v₁₃ + v₁₄ = A,  α¹³v₁₃ + α¹⁴v₁₄ = B
//
// where A and B are the syndromes of the first 13 symbols.
func checkSymbols(v *[Len]byte) (byte, byte) {
	var a, b byte
	for i := 0; i < dataLen; i++ {
		a ^= v[i]
		b ^= gfMul(gfExp[i], v[i])
	}
	v13 := gfDiv(b^gfMul(gfExp[14], a), gfExp[13]^gfExp[14])
	return v13, a ^ v13
}

// correctSingle interprets non-zero syndromes as one wrong symbol: the error
// value is e = S₀ and its position i satisfies αⁱ = S₁/S₀. It reports false if
// no single-symbol error explains the syndromes (then at least two symbols are
// wrong).
func correctSingle(s0, s1 byte) (pos int, e byte, ok bool) {
	if s0 == 0 || s1 == 0 {
		return 0, 0, false
	}
	pos = int(gfLog[gfDiv(s1, s0)])
	if pos >= Len {
		return 0, 0, false
	}
	return pos, s0, true
}
