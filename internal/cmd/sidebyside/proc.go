package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat
// (`getconf CLK_TCK`): 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStat is what cpuTicks needs from /proc/<pid>/stat.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
}

// parseStat parses the text of /proc/<pid>/stat. The command name (field 2)
// is in parentheses and may hold spaces and parentheses, so fields are
// counted after its last ')'.
func parseStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat %q: no )", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, state
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat %q: %d fields", s, len(f)+2)
	}
	var st procStat
	var err error
	num := func(field int) int64 {
		v, e := strconv.ParseInt(f[field-3], 10, 64)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	st.ppid = int(num(4))
	st.utime, st.stime, st.cutime, st.cstime = num(14), num(15), num(16), num(17)
	return st, err
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(b))
}

// children lists pid's child processes, from /proc/<pid>/task/*/children
// when the kernel has it, else by scanning /proc/*/stat for the ppid.
func children(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if len(tasks) > 0 {
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					kids = append(kids, c)
				}
			}
		}
		return kids
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(c); err == nil && st.ppid == pid {
			kids = append(kids, c)
		}
	}
	return kids
}

// treeTicks is the CPU time, user plus system in clock ticks, of pid and
// every process under it, counting the reaped children's times (cutime,
// cstime) too: a child that exits between two calls moves its time from
// its own entry to its parent's, and the sum stays right.
func treeTicks(pid int) (int64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	sum := st.utime + st.stime + st.cutime + st.cstime
	for _, c := range children(pid) {
		if t, err := treeTicks(c); err == nil {
			sum += t
		}
	}
	return sum, nil
}

// ownTicks is pid's own user plus system time in clock ticks.
func ownTicks(pid int) (int64, error) {
	st, err := readStat(pid)
	return st.utime + st.stime, err
}
