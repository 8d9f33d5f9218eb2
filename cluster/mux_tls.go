package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TLSConfig is a node's mutual-TLS identity: its certificate (whose identity,
// see NodeIDFromCert, must be the node's ID) and the CAs that peers'
// certificates must chain to. Both sides of every connection present and
// verify certificates.
type TLSConfig struct {
	Cert tls.Certificate
	CAs  *x509.CertPool
}

// LoadTLS reads a PEM certificate (chain), its private key and a PEM bundle of CAs.
func LoadTLS(certFile, keyFile, caFile string) (*TLSConfig, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: load TLS key pair: %w", err)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: load TLS CAs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("cluster: load TLS CAs: no certificate in %s", caFile)
	}
	c := &TLSConfig{Cert: cert, CAs: pool}
	if _, err := c.nodeID(); err != nil {
		return nil, err
	}
	return c, nil
}

// NodeIDFromCert returns the node ID a certificate proves: its URI SAN
// strata://node/<id> if it has one, else its Subject CommonName.
func NodeIDFromCert(c *x509.Certificate) (string, error) {
	for _, u := range c.URIs {
		if u.Scheme == "strata" && u.Host == "node" && len(u.Path) > 1 && u.Path[0] == '/' {
			return u.Path[1:], nil
		}
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName, nil
	}
	return "", errors.New("cluster: certificate names no node (no strata://node/ URI, no CommonName)")
}

// nodeID is the identity of c.Cert.
func (c *TLSConfig) nodeID() (string, error) {
	if c.CAs == nil {
		return "", errors.New("cluster: TLS config has no CAs")
	}
	leaf := c.Cert.Leaf
	if leaf == nil {
		if len(c.Cert.Certificate) == 0 {
			return "", errors.New("cluster: TLS config has no certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(c.Cert.Certificate[0]); err != nil {
			return "", fmt.Errorf("cluster: TLS certificate: %w", err)
		}
	}
	return NodeIDFromCert(leaf)
}

// server is the acceptor's configuration: client certificates required.
func (c *TLSConfig) server() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.Cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.CAs,
		MinVersion:   tls.VersionTLS13,
	}
}

// client is the dialer's configuration. Peers are reached by address, not
// host name, so instead of a host name check the chain is verified against
// the CAs here and the identity is checked after the handshake.
func (c *TLSConfig) client() *tls.Config {
	cert := c.Cert
	cas := c.CAs
	return &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		InsecureSkipVerify:   true, // replaced by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("cluster: peer sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: cas, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
		MinVersion: tls.VersionTLS13,
	}
}

// peerCertID is the node ID proven by a handshaken connection's peer.
func peerCertID(c interface{ ConnectionState() tls.ConnectionState }) (string, error) {
	certs := c.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("cluster: peer sent no certificate")
	}
	return NodeIDFromCert(certs[0])
}

// TestCA is a throwaway certificate authority (ECDSA P-256) for tests and for
// bootstrapping a cluster's certificates. Its certificates are valid for
// TestCAValidity.
type TestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// TestCAValidity is how long TestCA's certificates are valid (from an hour
// before they are issued, to absorb clock skew).
const TestCAValidity = 7 * 24 * time.Hour

// NewTestCA creates a CA with a fresh key.
func NewTestCA() (*TestCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := certTemplate("strata test CA")
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cluster: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &TestCA{cert: cert, key: key}, nil
}

// Pool returns a pool holding only this CA.
func (ca *TestCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issue returns a TLSConfig for nodeID: a new key and a certificate naming it
// (URI SAN strata://node/<id> and CommonName), good for client and server auth.
func (ca *TestCA) Issue(nodeID string) (*TLSConfig, error) {
	der, key, err := ca.issue(nodeID)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return &TLSConfig{Cert: cert, CAs: ca.Pool()}, nil
}

// WritePEM issues a certificate for nodeID and writes dir/ca.pem,
// dir/<id>.pem and dir/<id>-key.pem (mode 0600), ready for LoadTLS.
func (ca *TestCA) WritePEM(dir, nodeID string) (certFile, keyFile, caFile string, err error) {
	if strings.ContainsAny(nodeID, `/\`) || nodeID == "" || nodeID == "." || nodeID == ".." {
		return "", "", "", fmt.Errorf("cluster: node ID %q cannot name a file", nodeID)
	}
	der, key, err := ca.issue(nodeID)
	if err != nil {
		return "", "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", "", err
	}
	certFile = filepath.Join(dir, nodeID+".pem")
	keyFile = filepath.Join(dir, nodeID+"-key.pem")
	caFile = filepath.Join(dir, "ca.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{caFile, "CERTIFICATE", ca.cert.Raw, 0o644},
		{certFile, "CERTIFICATE", der, 0o644},
		{keyFile, "PRIVATE KEY", keyDER, 0o600},
	} {
		b := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(f.path, b, f.mode); err != nil {
			return "", "", "", fmt.Errorf("cluster: write %s: %w", f.path, err)
		}
	}
	return certFile, keyFile, caFile, nil
}

func (ca *TestCA) issue(nodeID string) ([]byte, *ecdsa.PrivateKey, error) {
	if nodeID == "" || len(nodeID) > maxNodeIDLen {
		return nil, nil, fmt.Errorf("cluster: node ID %q: want 1 to %d bytes", nodeID, maxNodeIDLen)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := certTemplate(nodeID)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tmpl.URIs = []*url.URL{{Scheme: "strata", Host: "node", Path: "/" + nodeID}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: issue certificate for %q: %w", nodeID, err)
	}
	return der, key, nil
}

func certTemplate(cn string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(TestCAValidity),
	}, nil
}
