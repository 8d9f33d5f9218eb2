package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ProgressLine shows a run's Progress on one line. On a terminal every
// Update rewrites the line in place (carriage return); elsewhere (a log
// file, CI) it prints a whole line when the phase changes and then at
// most once per Every of the phase's elapsed time. Update and Done must
// not be called concurrently (Config.Progress is called by one phase at a
// time).
type ProgressLine struct {
	W        io.Writer
	Terminal bool
	Every    time.Duration // between lines off a terminal; default 5 s

	phase   string
	printed time.Duration // Elapsed of the last line printed
	width   int           // of the line on the terminal
}

// Update shows p.
func (l *ProgressLine) Update(p Progress) {
	line := formatProgress(p)
	if l.Terminal {
		pad := ""
		if n := len([]rune(line)); n < l.width {
			pad = strings.Repeat(" ", l.width-n)
		}
		fmt.Fprintf(l.W, "\r%s%s", line, pad)
		l.width = len([]rune(line))
		l.phase = p.Phase
		return
	}
	every := l.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	if p.Phase == l.phase && p.Elapsed-l.printed < every {
		return
	}
	l.phase, l.printed = p.Phase, p.Elapsed
	fmt.Fprintln(l.W, line)
}

// Done ends the line on a terminal, so what follows starts on a new one.
func (l *ProgressLine) Done() {
	if l.Terminal && l.width > 0 {
		fmt.Fprintln(l.W)
		l.width = 0
	}
}

// formatProgress renders p on one line.
func formatProgress(p Progress) string {
	p99 := "—"
	if p.P99 >= 0 {
		p99 = fmt.Sprintf("%.1f ms", p.P99)
	}
	rss := ""
	if p.RSSBytes > 0 {
		rss = fmt.Sprintf("  rss %.0f MiB", float64(p.RSSBytes)/(1<<20))
	}
	return fmt.Sprintf("%-7s %6.0fs  published %d  applied %d  rate %.0f/s  backlog %d  p99 %s%s",
		p.Phase, p.Elapsed.Seconds(), p.Published, p.Applied, p.Rate, p.Backlog, p99, rss)
}
