package engine

import "syscall"

// reserve maps n bytes of zeroed memory that take no physical pages (nor,
// with MAP_NORESERVE, swap) until touched. Transparent huge pages, where
// the system gives them on request, save page faults on a guest's first
// touches of its heap (13.6k to 11.3k over rules scan's start-up).
func reserve(n uint64) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err == nil {
		syscall.Madvise(b, syscall.MADV_HUGEPAGE) // advice only: no error matters
	}
	return b, err
}

func release(b []byte) { syscall.Munmap(b) }
