// Package kerneltest makes what the unikernel tests boot: a tiny multiboot
// kernel written byte by byte (no toolchain, no download) and the tar.gz
// images that carry it. The unikernel driver's tests and the end-to-end
// tests share it.
package kerneltest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"testing"
)

// MultibootKernel is a bootable x86 kernel: a multiboot (v1) ELF32 image
// whose code writes msg to the first serial port (0x3f8) and then halts for
// ever. QEMU's -kernel boots it directly.
func MultibootKernel(msg string) []byte {
	const (
		base       = 0x100000 // load and link address (1 MiB)
		headerSize = 52 + 32  // ELF header and one program header
		mbOffset   = 96       // multiboot header: 4-byte aligned, in the first 8 KiB
		codeOffset = mbOffset + 12
		mbMagic    = 0x1BADB002
	)
	code := []byte{
		0xBE, 0, 0, 0, 0, // mov esi, msg
		0x66, 0xBA, 0xF8, 0x03, // mov dx, 0x3f8
		0x8A, 0x06, // next: mov al, [esi]
		0x84, 0xC0, // test al, al
		0x74, 0x04, // jz halt
		0xEE,       // out dx, al
		0x46,       // inc esi
		0xEB, 0xF6, // jmp next
		0xF4,       // halt: hlt
		0xEB, 0xFD, // jmp halt
	}
	binary.LittleEndian.PutUint32(code[1:], uint32(base+codeOffset+len(code)))
	body := append(append(code, msg...), 0)
	size := uint32(codeOffset + len(body))

	var b bytes.Buffer
	put := func(vs ...any) {
		for _, v := range vs {
			_ = binary.Write(&b, binary.LittleEndian, v)
		}
	}
	b.Write([]byte{0x7f, 'E', 'L', 'F', 1 /* 32-bit */, 1 /* little endian */, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	put(uint16(2) /* executable */, uint16(3) /* i386 */, uint32(1), uint32(base+codeOffset), /* entry */
		uint32(52) /* phoff */, uint32(0) /* shoff */, uint32(0) /* flags */, uint16(52), uint16(32), uint16(1),
		uint16(0), uint16(0), uint16(0))
	// One loadable segment: the whole file at 1 MiB.
	put(uint32(1), uint32(0), uint32(base), uint32(base), size, size, uint32(5) /* r-x */, uint32(0x1000))
	for b.Len() < mbOffset {
		b.WriteByte(0)
	}
	put(uint32(mbMagic), uint32(0), uint32(1<<32-mbMagic))
	b.Write(body)
	return b.Bytes()
}

// TarGz packs files (name -> content) into a tar.gz.
func TarGz(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
