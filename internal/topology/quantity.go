package topology

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Kubernetes quantities ("10M", "100k", "500m", "4Gi", "1.5e3") are parsed
// here rather than with k8s.io/apimachinery, which would bring most of the
// Kubernetes API machinery into the binary for one function. The grammar is
// the one resource.ParseQuantity accepts for non-negative values:
//
//	quantity = number [suffix]
//	number   = digits ["." digits] | "." digits
//	suffix   = binarySI | decimalSI | exponent
//	binarySI = Ki | Mi | Gi | Ti | Pi | Ei           (powers of 1024)
//	decimalSI= n | u | m | k | M | G | T | P | E     (powers of 1000)
//	exponent = (e | E) ["+" | "-"] digits            (power of 10)
//
// Values are exact (big.Rat) until they are scaled to the unit a field uses
// and rounded up, so "0.1" cpu is exactly 100 millicores.

// maxQuantityLen bounds the input so that a hostile document cannot make the
// parser build huge numbers.
const maxQuantityLen = 64

// maxExponent bounds a decimal exponent (k8s itself accepts far less in
// practice); beyond it every value of ours would overflow anyway.
const maxExponent = 30

var (
	decimalSuffixes = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
	binarySuffixes  = map[string]int{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
)

// parseQuantity returns the exact value of a non-negative Kubernetes
// quantity.
func parseQuantity(s string) (*big.Rat, error) {
	if s == "" {
		return nil, fmt.Errorf("empty quantity")
	}
	if len(s) > maxQuantityLen {
		return nil, fmt.Errorf("quantity %.20q... is longer than %d characters", s, maxQuantityLen)
	}
	num := s
	if strings.HasPrefix(num, "+") {
		num = num[1:]
	}
	if strings.HasPrefix(num, "-") {
		return nil, fmt.Errorf("quantity %q is negative", s)
	}
	end := 0
	dot := false
	for end < len(num) && (num[end] >= '0' && num[end] <= '9' || num[end] == '.' && !dot) {
		if num[end] == '.' {
			dot = true
		}
		end++
	}
	digits, suffix := num[:end], num[end:]
	if digits == "" || digits == "." {
		return nil, fmt.Errorf("quantity %q does not start with a number", s)
	}
	v, ok := new(big.Rat).SetString(digits)
	if !ok {
		return nil, fmt.Errorf("quantity %q: invalid number %q", s, digits)
	}
	if exp, ok := decimalSuffixes[suffix]; ok {
		return v.Mul(v, pow(10, exp)), nil
	}
	if exp, ok := binarySuffixes[suffix]; ok {
		return v.Mul(v, pow(2, exp)), nil
	}
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		exp, err := strconv.Atoi(suffix[1:])
		if err != nil {
			return nil, fmt.Errorf("quantity %q: invalid exponent %q", s, suffix)
		}
		if exp > maxExponent || exp < -maxExponent {
			return nil, fmt.Errorf("quantity %q: exponent out of range [-%d, %d]", s, maxExponent, maxExponent)
		}
		return v.Mul(v, pow(10, exp)), nil
	}
	return nil, fmt.Errorf("quantity %q: unknown suffix %q (want one of n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent like e3)", s, suffix)
}

// pow returns base^exp as a rational; exp may be negative.
func pow(base int64, exp int) *big.Rat {
	n := new(big.Int).Exp(big.NewInt(base), big.NewInt(int64(abs(exp))), nil)
	if exp < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), n)
	}
	return new(big.Rat).SetInt(n)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// scaledCeil parses s and returns ceil(value * 10^exp) as an int64: the
// smallest whole number of units that is not less than the quantity, so that a
// request never shrinks when it is converted.
func scaledCeil(s string, exp int) (int64, error) {
	v, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	v.Mul(v, pow(10, exp))
	q, r := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("quantity %q is too large", s)
	}
	return q.Int64(), nil
}

// ParseBandwidth parses a bandwidth quantity in bit/s ("10M", "100k",
// "5000000") and returns whole bit/s, rounded up.
func ParseBandwidth(s string) (int64, error) { return scaledCeil(s, 0) }

// ParseMilliCPU parses a cpu quantity ("2", "500m", "0.1") and returns
// millicores, rounded up.
func ParseMilliCPU(s string) (int64, error) { return scaledCeil(s, 3) }

// ParseBytes parses a memory quantity ("4Gi", "512Mi", "1G") and returns
// bytes, rounded up.
func ParseBytes(s string) (int64, error) { return scaledCeil(s, 0) }

// FormatBandwidth renders bit/s with the largest decimal suffix that divides
// it exactly ("5M", "100k", "1500"), the way the FogAtlas files write it.
func FormatBandwidth(bps int64) string {
	return formatExact(bps, []unit{{"E", 1e18}, {"P", 1e15}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}})
}

// FormatMilliCPU renders millicores as Kubernetes writes cpu: "2", "1.5" is
// "1500m", "100m".
func FormatMilliCPU(m int64) string {
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10)
	}
	return strconv.FormatInt(m, 10) + "m"
}

// FormatBytes renders bytes with the largest binary suffix that divides them
// exactly ("4Gi", "400Mi", "1000").
func FormatBytes(b int64) string {
	return formatExact(b, []unit{{"Ei", 1 << 60}, {"Pi", 1 << 50}, {"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}})
}

type unit struct {
	suffix string
	size   int64
}

func formatExact(v int64, units []unit) string {
	if v == 0 {
		return "0"
	}
	for _, u := range units {
		if v%u.size == 0 {
			return strconv.FormatInt(v/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

// parseMillis parses a latency in milliseconds ("20", "0.5") and checks its
// range.
func parseMillis(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > maxLatencyMS {
		return 0, fmt.Errorf("%v ms out of range [0, %d]", v, int64(maxLatencyMS))
	}
	return v, nil
}

// maxLatencyMS bounds latencies (about 11.5 days) so that sums of microseconds
// over any path stay far from overflow.
const maxLatencyMS = 1e9

// Micros converts a latency in milliseconds to whole microseconds, the unit
// in which path latencies are added and compared: float sums of milliseconds
// would make 10+10 <= 20 depend on rounding.
func Micros(ms float64) int64 { return int64(math.Round(ms * 1000)) }
