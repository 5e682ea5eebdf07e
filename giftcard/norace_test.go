//go:build !race

package giftcard_test

const raceEnabled = false
