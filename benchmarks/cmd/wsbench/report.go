package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// samples holds one figure per round for each column of a table; a round
// that failed holds NaN.
type samples map[string][]float64

// row is one line of a table.
type row struct {
	label string
	vals  samples
}

// table is one Markdown table. Its first column is ours; every other column
// is followed by the ratio ours/column, computed round by round and then
// summarized like the values.
type table struct {
	title   string
	what    string // what a value is, with its unit
	reading string // how to read the ratio
	cols    []string
	names   map[string]string // column headers, when not the column's name
	format  func(float64) string
	ratios  bool
	// minRatio: no ratio when either median is below it; for figures that
	// are often about zero (allocations), where a ratio says nothing.
	minRatio float64
	rows     []*row
}

func newTable(title, what, reading string, cols []string, format func(float64) string) *table {
	return &table{title: title, what: what, reading: reading, cols: cols, format: format, ratios: true}
}

// add records value v for column col in round r of the row labelled label.
func (t *table) add(label, col string, r, rounds int, v float64) {
	var rw *row
	for _, x := range t.rows {
		if x.label == label {
			rw = x
		}
	}
	if rw == nil {
		rw = &row{label: label, vals: samples{}}
		t.rows = append(t.rows, rw)
	}
	s := rw.vals[col]
	if s == nil {
		s = make([]float64, rounds)
		for i := range s {
			s[i] = math.NaN()
		}
		rw.vals[col] = s
	}
	s[r] = v
}

// summary is the median of the rounds that have a value, and their range.
func summary(s []float64) (med, lo, hi float64, ok bool) {
	var v []float64
	for _, x := range s {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	slices.Sort(v)
	med = v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return med, v[0], v[len(v)-1], true
}

func cell(s []float64, format func(float64) string) string {
	med, lo, hi, ok := summary(s)
	if !ok {
		return "n/a"
	}
	if format(lo) == format(hi) {
		return format(med)
	}
	return fmt.Sprintf("%s (%s–%s)", format(med), format(lo), format(hi))
}

func (t *table) ratioCell(ours, peer []float64) string {
	if t.minRatio > 0 {
		m1, _, _, ok1 := summary(ours)
		m2, _, _, ok2 := summary(peer)
		if !ok1 || !ok2 || m1 < t.minRatio || m2 < t.minRatio {
			return "—"
		}
	}
	var r []float64
	for i := range ours {
		if i < len(peer) && peer[i] != 0 {
			r = append(r, ours[i]/peer[i])
		}
	}
	return cell(r, func(v float64) string { return fmt.Sprintf("%.2f", v) })
}

func (t *table) header(col string) string {
	if n, ok := t.names[col]; ok {
		return n
	}
	return col
}

func (t *table) write(w io.Writer) {
	fmt.Fprintf(w, "**%s** — %s", t.title, t.what)
	if t.ratios && t.reading != "" {
		fmt.Fprintf(w, "; %s", t.reading)
	}
	if t.ratios && t.minRatio > 0 {
		fmt.Fprintf(w, "; — where a value is under %s, too close to zero for a ratio", t.format(t.minRatio))
	}
	fmt.Fprint(w, ".\n\n")
	head := []string{"case"}
	for i, c := range t.cols {
		head = append(head, t.header(c))
		if t.ratios && i > 0 {
			head = append(head, t.cols[0]+"/"+c)
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(head)))
	for _, rw := range t.rows {
		cells := []string{rw.label}
		ours := rw.vals[t.cols[0]]
		for i, c := range t.cols {
			cells = append(cells, cell(rw.vals[c], t.format))
			if t.ratios && i > 0 {
				cells = append(cells, t.ratioCell(ours, rw.vals[c]))
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

// Number formats.

func fmtRate(v float64) string {
	switch {
	case v >= 10e6:
		return fmt.Sprintf("%.0fM", v/1e6)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 10e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtSig(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 10<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	case v >= 1<<10:
		return fmt.Sprintf("%.2f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func fmtSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
