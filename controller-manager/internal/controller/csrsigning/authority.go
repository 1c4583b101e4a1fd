package csrsigning

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"sort"
	"sync"
	"time"

	certv1 "k8s.io/api/certificates/v1"
)

// The signing policy Kubernetes' signers use (signer.go): certificates
// start 5 minutes in the past, so a node whose clock is a little behind
// can use them at once; a certificate of at least Short keeps its full
// length from NotBefore, a shorter one ends TTL after now; nothing is
// signed for less than MinDuration.
const (
	Backdate    = 5 * time.Minute
	Short       = 8 * time.Hour
	MinDuration = 10 * time.Minute
)

// Authority is a CA that signs certificate requests.
type Authority struct {
	Certificate *x509.Certificate
	PrivateKey  crypto.Signer
}

// ParseAuthority reads a CA from its PEM certificate and PEM key (EC,
// RSA or PKCS #8), checking that they belong together and that the
// certificate is a CA's.
func ParseAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, err
		}
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA", cert.Subject.CommonName)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key %T cannot sign", pair.PrivateKey)
	}
	return &Authority{Certificate: cert, PrivateKey: key}, nil
}

// Duration is how long a certificate for a request asking for
// expirationSeconds (nil: nothing asked) lasts under a signer whose
// longest is max: what was asked, at most max, at least MinDuration.
func Duration(expirationSeconds *int32, max time.Duration) time.Duration {
	if expirationSeconds == nil {
		return max
	}
	switch d := time.Duration(*expirationSeconds) * time.Second; {
	case d > max:
		return max
	case d < MinDuration:
		return MinDuration
	default:
		return d
	}
}

// Sign issues a certificate for req: its subject, names and public key,
// the key usages and extended key usages usages name, valid for ttl as
// the policy above has it and never past the CA's own end. It returns
// the certificate as PEM.
func (ca *Authority) Sign(req *x509.CertificateRequest, usages []certv1.KeyUsage, ttl time.Duration, now time.Time) ([]byte, error) {
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("unable to verify certificate request signature: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("unable to generate a serial number for %s: %w", req.Subject.CommonName, err)
	}
	keyUsage, extKeyUsage, err := KeyUsages(usages)
	if err != nil {
		return nil, err
	}
	// Only what the request names is copied: its extensions are not, so
	// a request cannot make itself a CA or add usages of its own.
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		EmailAddresses:        req.EmailAddresses,
		URIs:                  req.URIs,
		PublicKeyAlgorithm:    req.PublicKeyAlgorithm,
		PublicKey:             req.PublicKey,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           extKeyUsage,
		BasicConstraintsValid: true,
		NotBefore:             now.Add(-Backdate),
	}
	if ttl < Short {
		tmpl.NotAfter = now.Add(ttl)
	} else {
		tmpl.NotAfter = now.Add(ttl - Backdate)
	}
	caEnd := ca.Certificate.NotAfter
	if !tmpl.NotAfter.Before(caEnd) {
		tmpl.NotAfter = caEnd
	}
	if !tmpl.NotBefore.Before(caEnd) {
		return nil, fmt.Errorf("the signer has expired: NotAfter=%v", caEnd)
	}
	if !now.Before(caEnd) {
		return nil, fmt.Errorf("refusing to sign a certificate that expired in the past: NotAfter=%v", caEnd)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate, req.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("failed to sign certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// keyUsages and extKeyUsages map the API's usages to x509's, as
// Kubernetes' certificate authority does.
var (
	keyUsages = map[certv1.KeyUsage]x509.KeyUsage{
		certv1.UsageSigning:           x509.KeyUsageDigitalSignature,
		certv1.UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
		certv1.UsageContentCommitment: x509.KeyUsageContentCommitment,
		certv1.UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
		certv1.UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
		certv1.UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
		certv1.UsageCertSign:          x509.KeyUsageCertSign,
		certv1.UsageCRLSign:           x509.KeyUsageCRLSign,
		certv1.UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
		certv1.UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
	}
	extKeyUsages = map[certv1.KeyUsage]x509.ExtKeyUsage{
		certv1.UsageAny:             x509.ExtKeyUsageAny,
		certv1.UsageServerAuth:      x509.ExtKeyUsageServerAuth,
		certv1.UsageClientAuth:      x509.ExtKeyUsageClientAuth,
		certv1.UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
		certv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
		certv1.UsageSMIME:           x509.ExtKeyUsageEmailProtection,
		certv1.UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
		certv1.UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
		certv1.UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
		certv1.UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
		certv1.UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
		certv1.UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
		certv1.UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
	}
)

// KeyUsages turns spec.usages into a certificate's key usage bits and
// its extended key usages (each once, sorted).
func KeyUsages(usages []certv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var ku x509.KeyUsage
	var unrecognized []certv1.KeyUsage
	ext := map[x509.ExtKeyUsage]bool{}
	for _, u := range usages {
		if v, ok := keyUsages[u]; ok {
			ku |= v
		} else if v, ok := extKeyUsages[u]; ok {
			ext[v] = true
		} else {
			unrecognized = append(unrecognized, u)
		}
	}
	if len(unrecognized) > 0 {
		return 0, nil, fmt.Errorf("unrecognized usage values: %q", unrecognized)
	}
	var sorted []x509.ExtKeyUsage
	for e := range ext {
		sorted = append(sorted, e)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return ku, sorted, nil
}

// caFiles is the CA on disk. It is read again when either file's
// content changes, so a rotated CA is used without a restart, as
// Kubernetes' signer reloads its files.
type caFiles struct {
	certFile, keyFile string

	mu              sync.Mutex // guards certPEM, keyPEM and ca
	certPEM, keyPEM []byte
	ca              *Authority
}

// current returns the CA the files hold now; if they cannot be read or
// no longer parse, the last good CA, with the error.
func (f *caFiles) current() (*Authority, error) {
	certPEM, err := os.ReadFile(f.certFile)
	if err != nil {
		return f.last(err)
	}
	keyPEM, err := os.ReadFile(f.keyFile)
	if err != nil {
		return f.last(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ca != nil && bytes.Equal(certPEM, f.certPEM) && bytes.Equal(keyPEM, f.keyPEM) {
		return f.ca, nil
	}
	ca, err := ParseAuthority(certPEM, keyPEM)
	if err != nil {
		err = fmt.Errorf("load CA from %s and %s: %w", f.certFile, f.keyFile, err)
		if f.ca == nil {
			return nil, err
		}
		return f.ca, err
	}
	f.certPEM, f.keyPEM, f.ca = certPEM, keyPEM, ca
	return ca, nil
}

func (f *caFiles) last(err error) (*Authority, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ca, err
}
