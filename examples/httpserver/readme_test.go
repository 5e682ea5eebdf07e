package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestReadmeCurl: every curl command in the sh blocks of this example's
// README.md works as its comment says ("# 201"), against a test server, and
// through the contract client, so the examples also match openapi.json.
// Every curl command in the repository's README.md is one of them. An
// issuance sets CODE and CARD to its first card's code and ID, as the
// README tells the reader to, or the two variables its comment names
// after the status ("# 201 GIFT1 CARD1").
func TestReadmeCurl(t *testing.T) {
	api := newTestServer(t)
	vars := map[string]string{"BASE": api.base, "ADMIN": adminToken, "ALICE": aliceToken, "TILL": tillToken, "CODE": "", "CARD": ""}
	for _, name := range []string{"GIFT1", "CARD1", "GIFT2", "CARD2"} {
		vars[name] = ""
	}
	lines := curlLines(t, "README.md")
	if len(lines) < 5 {
		t.Fatalf("README.md has %d curl commands; want the walk through the API", len(lines))
	}
	want := regexp.MustCompile(`#\s*(\d{3})\b(?:\s+([A-Z][A-Z0-9_]*)\s+([A-Z][A-Z0-9_]*))?`)
	for _, line := range lines {
		m := want.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("README.md: %s\nhas no comment with the status it answers, such as # 200", line)
			continue
		}
		req, err := curlRequest(line, vars)
		if err != nil {
			t.Errorf("README.md: %s\n%v", line, err)
			continue
		}
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strconv.Itoa(resp.StatusCode) != m[1] {
			t.Errorf("README.md: %s\nanswered %d %s", line, resp.StatusCode, body)
		}
		var issued struct{ Cards []struct{ ID, Code string } }
		if json.Unmarshal(body, &issued) == nil && len(issued.Cards) > 0 {
			// The README tells the reader to set CODE and CARD (or the
			// variables the comment names) from this answer.
			code, card := "CODE", "CARD"
			if m[2] != "" {
				code, card = m[2], m[3]
			}
			vars[code], vars[card] = issued.Cards[0].Code, issued.Cards[0].ID
		}
	}
	for _, line := range curlLines(t, "../../README.md") {
		if !strings.Contains(strings.Join(lines, "\n"), line) {
			t.Errorf("the repository's README.md has a curl command that this example's README.md does not run:\n%s", line)
		}
	}
}

// curlLines returns the lines of the sh blocks of the Markdown file name
// that start with curl, trimmed.
func curlLines(t *testing.T, name string) []string {
	t.Helper()
	text, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, block := range strings.Split(string(text), "```sh\n")[1:] {
		for _, line := range strings.Split(block[:strings.Index(block, "```")], "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "curl ") {
				out = append(out, line)
			}
		}
	}
	return out
}

// curlRequest makes the request of a curl command line that uses -s, -i,
// -X, -H, -d and a URL, with the shell variables in vars.
func curlRequest(line string, vars map[string]string) (*http.Request, error) {
	words, err := shellWords(line, vars)
	if err != nil {
		return nil, err
	}
	method, url, body := "GET", "", ""
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-s" || w == "-i":
		case (w == "-X" || w == "-H" || w == "-d") && i+1 < len(words):
			i++
			switch w {
			case "-X":
				method = words[i]
			case "-H":
				name, value, _ := strings.Cut(words[i], ":")
				header.Add(name, strings.TrimSpace(value))
			case "-d": // as curl does, data without -X is a POST
				body = words[i]
				if method == "GET" {
					method = "POST"
				}
			}
		case !strings.HasPrefix(w, "-") && url == "":
			url = w
		default:
			return nil, fmt.Errorf("curl argument %q: the test knows -s, -i, -X, -H, -d and one URL", w)
		}
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err == nil {
		req.Header = header
	}
	return req, err
}

// shellWords splits a command line as a POSIX shell would, for the simple
// lines of a README: 'single' and "double" quotes (with \ escapes and $VAR
// inside), $VAR outside them, and a pipe or a comment ending the command.
// A variable not in vars is an error.
func shellWords(line string, vars map[string]string) ([]string, error) {
	var (
		words []string
		word  strings.Builder
		in    bool // in a word
		err   error
	)
	for i := 0; i < len(line) && err == nil; i++ {
		switch c := line[i]; {
		case c == ' ' || c == '\t' || ((c == '|' || c == '#') && !in):
			if in {
				words, in = append(words, word.String()), false
				word.Reset()
			}
			if c == '|' || c == '#' {
				return words, nil
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			word.WriteString(line[i+1 : i+1+end])
			i, in = i+1+end, true
		case c == '"':
			i, err = doubleQuoted(line, i, vars, &word)
			in = true
		case c == '$':
			var n int
			n, err = expandVar(line[i+1:], vars, &word)
			i, in = i+n, true
		default:
			word.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, word.String())
	}
	return words, err
}

// doubleQuoted writes to word the double-quoted string that starts at
// line[open], with its escapes and variables, and returns the index of its
// closing quote.
func doubleQuoted(line string, open int, vars map[string]string, word *strings.Builder) (int, error) {
	for i := open + 1; i < len(line); i++ {
		switch line[i] {
		case '"':
			return i, nil
		case '\\':
			if i+1 < len(line) {
				i++
			}
			word.WriteByte(line[i])
		case '$':
			n, err := expandVar(line[i+1:], vars, word)
			if err != nil {
				return 0, err
			}
			i += n
		default:
			word.WriteByte(line[i])
		}
	}
	return 0, fmt.Errorf(`unterminated "`)
}

// varName matches a shell variable's name.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

// expandVar writes to word the value of the variable whose name starts
// rest, and returns the length of the name.
func expandVar(rest string, vars map[string]string, word *strings.Builder) (int, error) {
	name := varName.FindString(rest)
	value, ok := vars[name]
	if !ok {
		return 0, fmt.Errorf("unknown variable $%s", name)
	}
	word.WriteString(value)
	return len(name), nil
}
