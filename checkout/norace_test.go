//go:build !race

package checkout_test

const raceEnabled = false
