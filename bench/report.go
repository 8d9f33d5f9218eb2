package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteReports writes the report to dir (created if needed) three ways:
// report.json (Report as is), report.md (tables in the style of
// docs/benchmarks.md) and report.html (one self-contained page with charts).
func WriteReports(dir string, r Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	for name, write := range map[string]func(io.Writer, Report) error{
		"report.json": writeJSON, "report.md": writeMarkdown, "report.html": writeHTML,
	} {
		if err := writeFile(filepath.Join(dir, name), r, write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, r Report, write func(io.Writer, Report) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	w := bufio.NewWriter(f)
	err = write(w, r)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: report %s: %w", path, err)
	}
	return nil
}

func writeJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
