// Package benchcpu reports the CPU time a benchmark's process spends per
// operation, beside the wall time testing measures. On a shared machine,
// wall time counts the time the benchmark waits for a core that other
// processes hold; CPU time counts only the work, its garbage collection
// included, so that two benchmarks run side by side compare fairly under
// load.
package benchcpu

import "testing"

// Start begins measuring; call the returned function when the timed work
// ends, and it reports the metric "cpu-ns/op". Where the process's CPU time
// cannot be read, it reports nothing.
func Start(b *testing.B) (stop func()) {
	start, ok := ProcessTime()
	return func() {
		end, ok2 := ProcessTime()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
