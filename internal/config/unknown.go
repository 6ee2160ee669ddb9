package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// unknownFields returns the path of every key in data that t has no field
// for, in the notation validation errors use (bindings[0].upstream.url).
// It mirrors encoding/json's matching: an exact tag match, else a
// case-insensitive one. Types with their own UnmarshalJSON are opaque.
func unknownFields(data []byte, t reflect.Type) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	var out []string
	walkUnknown(doc, t, "", &out)
	sort.Strings(out)
	return out
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func walkUnknown(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for k, child := range obj {
			f, ok := fields.lookup(k)
			p := k
			if path != "" {
				p = path + "." + k
			}
			if !ok {
				*out = append(*out, p)
				continue
			}
			walkUnknown(child, f.Type, p, out)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return
		}
		for i, child := range arr {
			walkUnknown(child, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, child := range obj {
			walkUnknown(child, t.Elem(), path+"."+k, out)
		}
	}
}

type fieldSet map[string]reflect.StructField

func jsonFields(t reflect.Type) fieldSet {
	fs := fieldSet{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs[name] = f
	}
	return fs
}

func (fs fieldSet) lookup(key string) (reflect.StructField, bool) {
	if f, ok := fs[key]; ok {
		return f, true
	}
	for name, f := range fs {
		if strings.EqualFold(name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
