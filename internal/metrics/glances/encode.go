package glances

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// The handler works on a small JSON tree rather than on the plugin structs, so
// that one piece of code answers /<plugin>/<item> and /<plugin>/<item>/<value>
// for every plugin, and so that floats can be written the way Python writes
// them (3.0, not 3): clients that compare types with real Glances, or decode
// into Python, see the same JSON types.

// object is a JSON object that keeps its fields in order, as Glances' dicts do.
type object []field

type field struct {
	name  string
	value any
}

// get returns the value of the named field.
func (o object) get(name string) (any, bool) {
	for _, f := range o {
		if f.name == name {
			return f.value, true
		}
	}
	return nil, false
}

// tree turns v (structs with json tags, slices, maps of string, scalars) into
// the JSON tree: object, []any, float64, int64, uint64, string, bool or nil.
func tree(v any) any {
	return treeOf(reflect.ValueOf(v))
}

func treeOf(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Invalid:
		return nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return treeOf(v.Elem())
	case reflect.Struct:
		var o object
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if !sf.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			o = append(o, field{name: name, value: treeOf(v.Field(i))})
		}
		return o
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = treeOf(v.Index(i))
		}
		return out
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	default:
		// Maps and the rest never reach here: the plugins are built from the
		// kinds above. Writing the Go value keeps the output valid anyway.
		return fmt.Sprint(v.Interface())
	}
}

// encode writes the tree as compact JSON.
func encode(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case object:
		buf.WriteByte('{')
		for i, f := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, f.name)
			buf.WriteByte(':')
			encode(buf, f.value)
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			encode(buf, e)
		}
		buf.WriteByte(']')
	case float64:
		buf.WriteString(pyFloat(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		buf.WriteString(strconv.FormatUint(x, 10))
	case string:
		writeString(buf, x)
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	default:
		writeString(buf, fmt.Sprint(x))
	}
}

func writeString(buf *bytes.Buffer, s string) {
	b, err := json.Marshal(s)
	if err != nil { // a Go string always marshals; stay valid regardless
		b = []byte(`""`)
	}
	buf.Write(b)
}

// pyFloat formats f as Python's repr does: the shortest digits that read back
// as f, always with a decimal point or an exponent (exponent form below 1e-4
// and from 1e16). JSON has no NaN or infinity, so those become null.
func pyFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // e.g. "1.5e-05"
	exp, err := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if err != nil {
		return e
	}
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// marshal is encode into a new slice.
func marshal(v any) []byte {
	var buf bytes.Buffer
	encode(&buf, v)
	return buf.Bytes()
}
