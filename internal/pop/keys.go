package pop

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/youmark/pkcs8"
)

// PEM block types this package understands.
const (
	pemRSAPrivate       = "RSA PRIVATE KEY"
	pemPKCS8            = "PRIVATE KEY"
	pemECPrivate        = "EC PRIVATE KEY"
	pemEncryptedPKCS8   = "ENCRYPTED PRIVATE KEY"
	pemECParameters     = "EC PARAMETERS"
	pemPublicKey        = "PUBLIC KEY"
	pemRSAPublicKey     = "RSA PUBLIC KEY"
	pemCertificate      = "CERTIFICATE"
	supportedPrivateMsg = "want RSA PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY"
	supportedPublicMsg  = "want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE"
)

// ErrWrongPassphrase is matched (errors.Is) when an encrypted key cannot be
// decrypted with the passphrase given. A corrupt ciphertext is
// indistinguishable from a wrong passphrase, so both end up here.
var ErrWrongPassphrase = errors.New("private key: wrong passphrase or corrupt key")

// ErrPassphraseRequired is matched (errors.Is) when the key is encrypted and
// no passphrase was given.
var ErrPassphraseRequired = errors.New("private key: encrypted but no passphrase was given")

// keyError carries an exact, user-facing message while still matching one
// of the sentinels above with errors.Is.
type keyError struct {
	msg  string
	kind error
}

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return e.kind }

func needPassphrase(blockType, how string) error {
	return &keyError{msg: fmt.Sprintf("private key: %q is encrypted%s but no passphrase was given", blockType, how), kind: ErrPassphraseRequired}
}

func wrongPassphrase(detail string) error {
	msg := ErrWrongPassphrase.Error()
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return &keyError{msg: msg, kind: ErrWrongPassphrase}
}

// Bounds on the key-derivation parameters of an encrypted PKCS#8 key. The
// parameters come from the file itself, so without a ceiling a corrupt or
// hostile file could make the sidecar spin or allocate for minutes.
// OpenSSL's defaults (PBKDF2 2048 iterations, scrypt N=16384) sit far
// below; the PBKDF2 ceiling still admits OWASP's 600,000.
const (
	maxPBKDF2Iterations = 1_000_000
	maxScryptN          = 1 << 20
	maxScryptR          = 32
	maxScryptP          = 16
)

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
)

// LoadPrivateKey reads a PEM private key and, when passphraseFile is not
// empty, the passphrase that decrypts it. One trailing newline is dropped
// from the passphrase because editors and `echo` add one.
func LoadPrivateKey(keyFile, passphraseFile string) (crypto.Signer, error) {
	pemData, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("private key: read key file: %w", err)
	}
	var pass []byte
	if passphraseFile != "" {
		pass, err = os.ReadFile(passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("private key: read passphrase file: %w", err)
		}
		pass = trimOneNewline(pass)
		if len(pass) == 0 {
			return nil, fmt.Errorf("private key: passphrase file %s is empty", passphraseFile)
		}
	}
	key, err := ParsePrivateKey(pemData, pass)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, keyFile)
	}
	return key, nil
}

func trimOneNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// ParsePrivateKey parses the first private key in pemData: PKCS#1, PKCS#8,
// SEC1, encrypted PKCS#8 (PBES2) or legacy OpenSSL-encrypted PEM. Only RSA
// and ECDSA keys are returned. passphrase may be nil for unencrypted keys.
func ParsePrivateKey(pemData, passphrase []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(pemData)
	// `openssl ecparam -genkey` writes the curve parameters before the key.
	for block != nil && block.Type == pemECParameters {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, errors.New("private key: no PEM block found (is this DER or a public key?)")
	}
	switch block.Type {
	case pemRSAPrivate, pemECPrivate:
		// x509.IsEncryptedPEMBlock and DecryptPEMBlock are deprecated
		// because legacy PEM encryption is unauthenticated, but they are
		// the only stdlib reader for the "Proc-Type: 4,ENCRYPTED" keys
		// OpenSSL still writes with -traditional; we accept those keys for
		// compatibility (PKCS#8 is the recommended format).
		encrypted := x509.IsEncryptedPEMBlock(block) //nolint:staticcheck // legacy format support, see above.
		der := block.Bytes
		if encrypted {
			if len(passphrase) == 0 {
				return nil, needPassphrase(block.Type, " (Proc-Type: 4,ENCRYPTED)")
			}
			var err error
			der, err = x509.DecryptPEMBlock(block, passphrase) //nolint:staticcheck // legacy format support, see above.
			if err != nil {
				if errors.Is(err, x509.IncorrectPasswordError) {
					return nil, wrongPassphrase("legacy encrypted " + block.Type)
				}
				return nil, fmt.Errorf("private key: legacy encrypted %q: %w", block.Type, err)
			}
		}
		var (
			k   crypto.Signer
			err error
		)
		format := "PKCS#1"
		if block.Type == pemRSAPrivate {
			k, err = x509.ParsePKCS1PrivateKey(der)
		} else {
			format = "SEC1"
			k, err = x509.ParseECPrivateKey(der)
		}
		if err != nil {
			if encrypted {
				// Legacy decryption only checks the padding, so a wrong
				// passphrase usually surfaces here as garbage DER.
				return nil, wrongPassphrase("legacy encrypted " + block.Type)
			}
			return nil, fmt.Errorf("private key: parse %q (%s): %w", block.Type, format, err)
		}
		return k, nil
	case pemPKCS8:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: parse %q (PKCS#8): %w", block.Type, err)
		}
		return asSigner(k, block.Type)
	case pemEncryptedPKCS8:
		if len(passphrase) == 0 {
			return nil, needPassphrase(block.Type, "")
		}
		if err := checkEncryptedPKCS8(block.Bytes); err != nil {
			return nil, fmt.Errorf("private key: %q: %w", block.Type, err)
		}
		k, err := decryptPKCS8(block.Bytes, passphrase)
		if err != nil {
			return nil, err
		}
		return asSigner(k, block.Type)
	default:
		return nil, fmt.Errorf("private key: found PEM block %q; %s", block.Type, supportedPrivateMsg)
	}
}

func asSigner(k any, blockType string) (crypto.Signer, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("private key: %q holds a %T; want an RSA or ECDSA key", blockType, k)
	}
}

// decryptPKCS8 wraps youmark/pkcs8, whose CBC code calls
// cipher.BlockMode.CryptBlocks without checking the ciphertext or IV length
// and therefore panics on truncated input. A key file must never crash the
// sidecar, so a panic becomes the corrupt-key error.
func decryptPKCS8(der, passphrase []byte) (key any, err error) {
	defer func() {
		if recover() != nil {
			key, err = nil, wrongPassphrase("")
		}
	}()
	k, _, err := pkcs8.ParsePrivateKey(der, passphrase)
	if err != nil {
		// youmark reports a wrong passphrase as "pkcs8: incorrect password"
		// and structural problems otherwise; none of its messages contain
		// key material, so the structural ones are worth passing on.
		if err.Error() == "pkcs8: incorrect password" {
			return nil, wrongPassphrase("")
		}
		return nil, wrongPassphrase(err.Error())
	}
	return k, nil
}

type encryptedPrivateKeyInfo struct {
	EncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedData       []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt                     []byte
	CostParameter            int
	BlockSize                int
	ParallelizationParameter int
}

// checkEncryptedPKCS8 rejects what youmark would accept but should not run:
// non-PBES2 schemes (PBES1 / PKCS#12 PBE, e.g. `openssl pkcs8 -v1`) and KDF
// parameters large enough to stall key loading.
func checkEncryptedPKCS8(der []byte) error {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return errors.New("not a valid EncryptedPrivateKeyInfo structure (corrupt key?)")
	}
	if !info.EncryptionAlgorithm.Algorithm.Equal(oidPBES2) {
		return fmt.Errorf("encryption scheme %s is not supported; want PBES2 (openssl pkcs8 -topk8 -v2 aes-256-cbc or des3)", info.EncryptionAlgorithm.Algorithm)
	}
	if len(info.EncryptedData) == 0 || len(info.EncryptedData)%8 != 0 {
		return errors.New("encrypted data is not a whole number of cipher blocks (corrupt key?)")
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.EncryptionAlgorithm.Parameters.FullBytes, &params); err != nil {
		return errors.New("invalid PBES2 parameters (corrupt key?)")
	}
	kdf := params.KeyDerivationFunc
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var p pbkdf2Params
		if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
			return errors.New("invalid PBKDF2 parameters (corrupt key?)")
		}
		if p.IterationCount < 1 || p.IterationCount > maxPBKDF2Iterations {
			return fmt.Errorf("PBKDF2 iteration count %d is outside 1..%d", p.IterationCount, maxPBKDF2Iterations)
		}
	case kdf.Algorithm.Equal(oidScrypt):
		var p scryptParams
		if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
			return errors.New("invalid scrypt parameters (corrupt key?)")
		}
		if p.CostParameter < 2 || p.CostParameter > maxScryptN ||
			p.BlockSize < 1 || p.BlockSize > maxScryptR ||
			p.ParallelizationParameter < 1 || p.ParallelizationParameter > maxScryptP {
			return fmt.Errorf("scrypt parameters N=%d r=%d p=%d exceed N<=%d r<=%d p<=%d",
				p.CostParameter, p.BlockSize, p.ParallelizationParameter, maxScryptN, maxScryptR, maxScryptP)
		}
	default:
		return fmt.Errorf("key derivation function %s is not supported; want PBKDF2 or scrypt", kdf.Algorithm)
	}
	return nil
}

// ParsePublicKey parses the first public key in pemData: PKIX "PUBLIC KEY",
// PKCS#1 "RSA PUBLIC KEY", or the subject key of a "CERTIFICATE".
func ParsePublicKey(pemData []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("public key: no PEM block found (is this DER?)")
	}
	switch block.Type {
	case pemPublicKey:
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: parse %q (PKIX): %w", block.Type, err)
		}
		return k, nil
	case pemRSAPublicKey:
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: parse %q (PKCS#1): %w", block.Type, err)
		}
		return k, nil
	case pemCertificate:
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: parse %q: %w", block.Type, err)
		}
		return c.PublicKey, nil
	case pemRSAPrivate, pemPKCS8, pemECPrivate, pemEncryptedPKCS8:
		// Say so plainly: pasting the private key where the public one
		// belongs is a common and dangerous mistake.
		return nil, fmt.Errorf("public key: found private key PEM block %q; %s", block.Type, supportedPublicMsg)
	default:
		return nil, fmt.Errorf("public key: found PEM block %q; %s", block.Type, supportedPublicMsg)
	}
}
