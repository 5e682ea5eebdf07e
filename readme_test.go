package giftkit_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadme: every Go snippet in README.md is code a test compiles and
// runs. Each must appear, line for line (indentation and blank lines
// aside), in one of the files below, which are examples that run.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, name := range []string{"readme_example_test.go", "examples/quickstart/main.go", "pgstore/example_test.go", "sqlitestore/example_test.go"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, normalize(string(src)))
	}
	blocks := strings.Split(string(readme), "```go\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("no Go snippets found in README.md")
	}
	for _, b := range blocks {
		snippet := normalize(b[:strings.Index(b, "```")])
		found := false
		for _, src := range sources {
			found = found || strings.Contains(src, snippet)
		}
		if !found {
			t.Errorf("a README snippet is in no example that runs:\n%s", snippet)
		}
	}
}

// normalize trims every line and drops the empty ones.
func normalize(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return "\n" + strings.Join(out, "\n") + "\n"
}
