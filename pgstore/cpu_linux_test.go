//go:build linux

package pgstore_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// serverCPU returns a function that reports the CPU time used so far by
// the test server's processes (the postmaster's children, and those that
// exited), read from /proc; or -1 if they cannot be read (another
// machine, another OS).
func serverCPU(b testing.TB) func() time.Duration {
	none := func() time.Duration { return -1 }
	conn, err := pgx.Connect(context.Background(), dsn(b))
	if err != nil {
		return none
	}
	var backend int
	err = conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&backend)
	conn.Close(context.Background())
	if err != nil {
		return none
	}
	stat := func(pid string) (ppid string, cpu, children time.Duration, ok bool) {
		data, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return "", 0, 0, false
		}
		// The fields after the command's closing parenthesis: state, ppid,
		// ..., utime (14th field of the line), stime, cutime, cstime.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			return "", 0, 0, false
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 15 {
			return "", 0, 0, false
		}
		tick := func(s string) time.Duration {
			n, _ := strconv.ParseInt(s, 10, 64)
			return time.Duration(n) * 10 * time.Millisecond // USER_HZ is 100 on Linux
		}
		return f[1], tick(f[11]) + tick(f[12]), tick(f[13]) + tick(f[14]), true
	}
	postmaster, _, _, ok := stat(strconv.Itoa(backend))
	if !ok {
		return none
	}
	return func() time.Duration {
		_, _, total, ok := stat(postmaster) // the backends that exited
		if !ok {
			return -1
		}
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			if ppid, cpu, _, ok := stat(d.Name()); ok && ppid == postmaster {
				total += cpu
			}
		}
		return total
	}
}
