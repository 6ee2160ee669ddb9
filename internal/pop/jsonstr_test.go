package pop

import (
	"encoding/json"
	"testing"
)

// TestAppendJSONString pins the escaping against literal expectations and
// against encoding/json, which the claims used to be marshalled with.
func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"uuid", "5b0e7a44-8c4f-4f43-9a7e-0d1c2b3a4f5e", `"5b0e7a44-8c4f-4f43-9a7e-0d1c2b3a4f5e"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other controls", "\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"DEL is not escaped", "\x7f", "\"\x7f\""},
		{"html", "<a&b>", `"\u003ca\u0026b\u003e"`},
		{"utf-8 kept", "été 東京 🎉", `"été 東京 🎉"`},
		{"line and paragraph separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"truncated sequence", "\xe6\x9d", `"\ufffd\ufffd"`},
		{"surrogate half", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"escape at the end", "abc\n", `"abc\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendJSONString([]byte("prefix:"), tt.in))
			if got != "prefix:"+tt.want {
				t.Errorf("appendJSONString(%q) = %s, want %s", tt.in, got[len("prefix:"):], tt.want)
			}
			ref, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(ref) != tt.want {
				t.Errorf("encoding/json gives %s, the table says %s", ref, tt.want)
			}
		})
	}
}

// FuzzAppendJSONString checks, for any string, that the output is the bytes
// encoding/json produces and that it decodes to the input (after the U+FFFD
// substitution encoding/json also makes).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "jti-1", "a\"b\\c\n\x01é", "\xff\xfe", "\u2028<>&", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json gives %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("output %s is not a JSON string: %v", got, err)
		}
	})
}
