//go:build !linux

package importers

import "time"

// Outside Linux the benchmarks report no CPU time (cpu-MB/s is left out)
// and no peak RSS.

func cpuTime() time.Duration { return 0 }

func peakRSS() (float64, bool) { return 0, false }
