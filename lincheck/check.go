package lincheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report says what [CheckHistory] found.
type Report struct {
	Partitions int           // partitions checked
	Operations int           // porcupine operations in them
	Undecided  []string      // partitions porcupine could not decide in time
	Tainted    []string      // partitions left unchecked, and why
	Illegal    []Violation   // partitions that are not linearizable
	Took       time.Duration // the time the checks took
}

// A Violation is a partition that is not linearizable, and where its
// history and visualisation were saved.
type Violation struct {
	Partition string
	HTML      string // porcupine's visualisation, with the longest linearizable prefixes
	JSON      string // the whole history of the run, for ReadHistory
}

// Check checks h (see [CheckHistory]) and fails t for every problem a call
// showed and every partition that is not linearizable, naming the files
// saved for it under opts.Dir.
func Check(t testing.TB, h *History, opts Options) {
	t.Helper()
	for _, p := range h.Problems {
		t.Errorf("%s", p)
	}
	rep, err := CheckHistory(h, opts.withDefaults())
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	t.Logf("lincheck: %d calls; %d partitions, %d operations, checked in %v", len(h.Calls), rep.Partitions, rep.Operations, rep.Took.Round(time.Millisecond))
	for _, u := range rep.Undecided {
		t.Logf("lincheck: porcupine could not decide %s in %v", u, opts.withDefaults().CheckTimeout)
	}
	for _, u := range rep.Tainted {
		t.Logf("lincheck: not checked: %s", u)
	}
	for _, v := range rep.Illegal {
		t.Errorf("lincheck: %s is not linearizable: see %s (history %s)", v.Partition, v.HTML, v.JSON)
	}
}

// CheckHistory checks every partition of h for linearizability against
// its model, and saves the history and a visualisation of each partition
// that is not linearizable (see [Options.Dir]).
func CheckHistory(h *History, opts Options) (Report, error) {
	start := time.Now()
	var rep Report
	parts := partitions(h)
	sort.Slice(parts, func(i, j int) bool { return parts[i].name < parts[j].name })
	for _, p := range parts {
		if p.tainted != "" {
			rep.Tainted = append(rep.Tainted, p.name+": "+p.tainted)
			continue
		}
		rep.Partitions++
		rep.Operations += len(p.ops)
		res, info := porcupine.CheckOperationsVerbose(p.model, p.ops, opts.CheckTimeout)
		switch res {
		case porcupine.Unknown:
			rep.Undecided = append(rep.Undecided, p.name)
		case porcupine.Illegal:
			v, err := save(h, p, info, opts, len(rep.Illegal))
			if err != nil {
				return rep, err
			}
			rep.Illegal = append(rep.Illegal, v)
		}
	}
	rep.Took = time.Since(start)
	return rep, nil
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// save writes the history of a run and the visualisation of one of its
// partitions that is not linearizable.
func save(h *History, p *partition, info porcupine.LinearizationInfo, opts Options, n int) (Violation, error) {
	dir, err := opts.dir()
	if err != nil {
		return Violation{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Violation{}, err
	}
	base := filepath.Join(dir, fmt.Sprintf("lincheck-%d-%d-%s", time.Now().Unix(), n, strings.Trim(unsafe.ReplaceAllString(p.name, "_"), "_")))
	v := Violation{Partition: p.name, HTML: base + ".html", JSON: base + ".json"}
	if err := h.WriteFile(v.JSON); err != nil {
		return v, err
	}
	return v, porcupine.VisualizePath(p.model, info, v.HTML)
}
