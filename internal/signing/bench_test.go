package signing

import (
	"net/http"
	"net/url"
	"testing"
)

func benchReq(b *testing.B, method, rawURL string) *http.Request {
	u, err := url.Parse(rawURL)
	if err != nil {
		b.Fatal(err)
	}
	return &http.Request{Method: method, URL: u, Header: http.Header{}}
}

func BenchmarkOAuth1HMACSHA1Sign(b *testing.B) {
	s := photosSigner(b, OAuth1HMACSHA1)
	req := benchReq(b, "GET", "http://photos.example.net/photos?file=vacation.jpg&size=original")
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Sign(req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMACSign(b *testing.B) {
	s := MACSigner{}
	req := benchReq(b, "GET", "https://example.com/resource/1?b=1&a=2")
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Sign(req, "h480djs93hd8", macKey, MACHMACSHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDPoPProof(b *testing.B) {
	p, err := NewDPoPProver()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Proof("GET", "https://resource.example.org/protectedresource?x=1", "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", ""); err != nil {
			b.Fatal(err)
		}
	}
}
