package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// rawTx is what Copy needs beyond Tx: every implementation has it, so that a
// migration moves the stored bytes and the sequences exactly, rather than
// decoding and re-encoding them.
type rawTx interface {
	Tx
	buckets() ([]string, error)
	sequence(bucket string) (uint64, error)
	setSequence(bucket string, n uint64) error
	putRaw(bucket, key string, raw []byte) error
}

// copyChunk bounds the records written per destination transaction: etcd
// refuses transactions of more than --max-txn-ops (128 by default)
// operations, and each record costs one plus its bucket's generation.
const copyChunk = 100

// ErrNotEmpty: Copy's destination already holds records.
var ErrNotEmpty = errors.New("destination store is not empty")

// CopyStats says what Copy moved.
type CopyStats struct {
	Buckets, Records int
}

// Copy moves every bucket, record and sequence of src into dst, which must be
// empty, and then reads both back to check that they hold the same bytes. It
// is for migrations of a stopped tier (hedge root migrate): the writes are
// chunked, so a reader of dst during the copy may see part of it.
func Copy(dst, src Store) (CopyStats, error) {
	var stats CopyStats
	err := dst.View(func(tx Tx) error {
		bs, err := asRaw(tx).buckets()
		if err != nil {
			return err
		}
		if len(bs) > 0 {
			return fmt.Errorf("%w: it has buckets %v", ErrNotEmpty, bs)
		}
		return nil
	})
	if err != nil {
		return stats, err
	}
	type rec struct {
		key string
		raw []byte
	}
	err = src.View(func(stx Tx) error {
		rs := asRaw(stx)
		bs, err := rs.buckets()
		if err != nil {
			return err
		}
		for _, b := range bs {
			seq, err := rs.sequence(b)
			if err != nil {
				return err
			}
			var recs []rec
			if err := stx.List(b, func(k string, raw []byte) error {
				recs = append(recs, rec{k, raw})
				return nil
			}); err != nil {
				return err
			}
			for chunk := range slices.Chunk(recs, copyChunk) {
				if err := dst.Update(func(dtx Tx) error {
					for _, r := range chunk {
						if err := asRaw(dtx).putRaw(b, r.key, r.raw); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return fmt.Errorf("copy %s: %w", b, err)
				}
			}
			if seq > 0 {
				if err := dst.Update(func(dtx Tx) error { return asRaw(dtx).setSequence(b, seq) }); err != nil {
					return fmt.Errorf("copy %s sequence: %w", b, err)
				}
			}
			stats.Buckets++
			stats.Records += len(recs)
		}
		return nil
	})
	if err != nil {
		return stats, err
	}
	return stats, Equal(dst, src)
}

// Equal reports, as an error naming the first difference, whether a and b
// hold the same buckets, sequences and record bytes.
func Equal(a, b Store) error {
	type state struct {
		buckets []string
		seqs    map[string]uint64
		recs    map[string][]byte
	}
	read := func(st Store) (state, error) {
		s := state{seqs: map[string]uint64{}, recs: map[string][]byte{}}
		err := st.View(func(tx Tx) error {
			r := asRaw(tx)
			var err error
			if s.buckets, err = r.buckets(); err != nil {
				return err
			}
			for _, bk := range s.buckets {
				if s.seqs[bk], err = r.sequence(bk); err != nil {
					return err
				}
				if err := tx.List(bk, func(k string, raw []byte) error {
					s.recs[bk+"/"+k] = raw
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		})
		return s, err
	}
	sa, err := read(a)
	if err != nil {
		return err
	}
	sb, err := read(b)
	if err != nil {
		return err
	}
	if !slices.Equal(sa.buckets, sb.buckets) {
		return fmt.Errorf("buckets differ: %v and %v", sa.buckets, sb.buckets)
	}
	for bk, n := range sa.seqs {
		if sb.seqs[bk] != n {
			return fmt.Errorf("sequence of %s differs: %d and %d", bk, n, sb.seqs[bk])
		}
	}
	if len(sa.recs) != len(sb.recs) {
		return fmt.Errorf("record counts differ: %d and %d", len(sa.recs), len(sb.recs))
	}
	for k, raw := range sa.recs {
		if !bytes.Equal(raw, sb.recs[k]) {
			return fmt.Errorf("record %s differs", k)
		}
	}
	return nil
}

func asRaw(tx Tx) rawTx {
	r, ok := tx.(rawTx)
	if !ok {
		panic(fmt.Sprintf("store: %T cannot be copied", tx))
	}
	return r
}
