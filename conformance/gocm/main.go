// Command gocm drives golang.org/x/crypto/acme, the ACME library cert-manager's ACME issuer is built on,
// through the sequence that issuer runs for one Certificate: register (with EAB when given, and again to
// find the existing account, RFC 8555 §7.3.1), AuthorizeOrder (§7.4), answer http-01 or dns-01 through
// pebble-challtestsrv's management API (§8.3, §8.4), Accept, WaitAuthorization (§7.5.1), WaitOrder,
// CreateOrderCert (finalize, §7.4), FetchCert (§7.4.2) and, on request, RevokeCert (§7.6).
//
// It prints one JSON object per step on standard output, so the conformance tests can assert each
// step; on the first error it prints {"step": "error", ...} and exits 1.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
)

type options struct {
	directory string
	caBundle  string
	domains   []string
	challenge string
	responder string
	eabKID    string
	eabHMAC   string
	outDir    string
	revoke    bool
	timeout   time.Duration
}

func main() {
	var opts options
	var domains string
	flag.StringVar(&opts.directory, "directory", "", "ACME directory URL")
	flag.StringVar(&opts.caBundle, "ca-bundle", "", "PEM file the server's HTTPS certificate chains to")
	flag.StringVar(&domains, "domains", "", "comma-separated DNS names")
	flag.StringVar(&opts.challenge, "challenge", "http-01", "http-01 or dns-01")
	flag.StringVar(&opts.responder, "responder", "", "pebble-challtestsrv management URL")
	flag.StringVar(&opts.eabKID, "eab-kid", "", "external account binding key id")
	flag.StringVar(&opts.eabHMAC, "eab-hmac", "", "external account binding HMAC key, base64url")
	flag.StringVar(&opts.outDir, "out", ".", "directory for key.pem, chain.pem and fetched.pem")
	flag.BoolVar(&opts.revoke, "revoke", false, "revoke the certificate at the end")
	flag.DurationVar(&opts.timeout, "timeout", 60*time.Second, "bound on the whole run")
	flag.Parse()
	opts.domains = strings.Split(domains, ",")

	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()
	if err := run(ctx, opts); err != nil {
		report("error", map[string]interface{}{"detail": err.Error(), "problem": problemOf(err)})
		os.Exit(1)
	}
}

// report prints one step as a JSON line.
func report(step string, fields map[string]interface{}) {
	fields["step"] = step
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

// problemOf returns the RFC 8555 §6.7 problem type carried by err, if any.
func problemOf(err error) string {
	var acmeErr *acme.Error
	if errors.As(err, &acmeErr) {
		return acmeErr.ProblemType
	}
	return ""
}

func newClient(opts options) (*acme.Client, error) {
	pemBytes, err := os.ReadFile(opts.caBundle)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("no certificate in %s", opts.caBundle)
	}
	// cert-manager's default account key is RSA 2048 (it generates one per Issuer).
	accountKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &acme.Client{
		Key:          accountKey,
		DirectoryURL: opts.directory,
		UserAgent:    "conformance-gocm",
		HTTPClient: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		},
	}, nil
}

func run(ctx context.Context, opts options) error {
	client, err := newClient(opts)
	if err != nil {
		return err
	}
	account, err := register(ctx, client, opts)
	if err != nil {
		return err
	}
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(opts.domains...))
	if err != nil {
		return fmt.Errorf("AuthorizeOrder: %w", err)
	}
	report("order", map[string]interface{}{
		"url": order.URI, "status": order.Status, "authorizations": len(order.AuthzURLs),
	})
	for _, authzURL := range order.AuthzURLs {
		if err := authorize(ctx, client, opts, authzURL); err != nil {
			return err
		}
	}
	order, err = client.WaitOrder(ctx, order.URI)
	if err != nil {
		return fmt.Errorf("WaitOrder: %w", err)
	}
	report("ready", map[string]interface{}{"status": order.Status})
	chain, err := finalize(ctx, client, opts, order)
	if err != nil {
		return err
	}
	if opts.revoke {
		// cert-manager has the account key only, so the revocation is signed with it (kid).
		if err := client.RevokeCert(ctx, nil, chain[0], acme.CRLReasonCessationOfOperation); err != nil {
			return fmt.Errorf("RevokeCert: %w", err)
		}
		report("revoked", map[string]interface{}{"account": account.URI})
	}
	return nil
}

// register creates the account, then registers the same key again as cert-manager does on every
// Issuer sync: the server must answer with the existing account (RFC 8555 §7.3.1).
func register(ctx context.Context, client *acme.Client, opts options) (*acme.Account, error) {
	request := &acme.Account{Contact: []string{"mailto:conformance@example.com"}}
	if opts.eabKID != "" {
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(opts.eabHMAC, "="))
		if err != nil {
			return nil, fmt.Errorf("EAB HMAC key: %w", err)
		}
		request.ExternalAccountBinding = &acme.ExternalAccountBinding{KID: opts.eabKID, Key: key}
	}
	account, err := client.Register(ctx, request, acme.AcceptTOS)
	if err != nil {
		return nil, fmt.Errorf("Register: %w", err)
	}
	report("register", map[string]interface{}{"account": account.URI, "status": account.Status})

	_, err = client.Register(ctx, &acme.Account{Contact: request.Contact}, acme.AcceptTOS)
	if !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("second Register: want ErrAccountAlreadyExists, got %v", err)
	}
	existing, err := client.GetReg(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("GetReg: %w", err)
	}
	report("register-again", map[string]interface{}{"account": existing.URI, "status": existing.Status})
	return account, nil
}

// authorize solves one authorization with the configured challenge type, then cleans up.
func authorize(ctx context.Context, client *acme.Client, opts options, url string) error {
	authz, err := client.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("GetAuthorization: %w", err)
	}
	if authz.Status == acme.StatusValid {
		report("authorization", map[string]interface{}{"url": url, "status": authz.Status, "reused": true})
		return nil
	}
	var challenge *acme.Challenge
	for _, c := range authz.Challenges {
		if c.Type == opts.challenge {
			challenge = c
		}
	}
	if challenge == nil {
		return fmt.Errorf("authorization %s offers no %s challenge", url, opts.challenge)
	}
	cleanup, err := present(ctx, client, opts, authz.Identifier.Value, challenge)
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := client.Accept(ctx, challenge); err != nil {
		return fmt.Errorf("Accept: %w", err)
	}
	authz, err = client.WaitAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("WaitAuthorization: %w", err)
	}
	report("authorization", map[string]interface{}{
		"url": url, "identifier": authz.Identifier.Value, "wildcard": authz.Wildcard,
		"status": authz.Status, "challenge": challenge.Type,
	})
	return nil
}

// present publishes the challenge response through pebble-challtestsrv, the way cert-manager's
// solvers publish it through an Ingress (http-01) or a DNS provider (dns-01).
func present(
	ctx context.Context, client *acme.Client, opts options, domain string, challenge *acme.Challenge,
) (func(), error) {
	switch challenge.Type {
	case "http-01":
		keyAuth, err := client.HTTP01ChallengeResponse(challenge.Token)
		if err != nil {
			return nil, err
		}
		body := map[string]string{"token": challenge.Token, "content": keyAuth}
		if err := manage(ctx, opts.responder, "/add-http01", body); err != nil {
			return nil, err
		}
		return func() {
			_ = manage(context.Background(), opts.responder, "/del-http01", map[string]string{"token": challenge.Token})
		}, nil
	case "dns-01":
		record, err := client.DNS01ChallengeRecord(challenge.Token)
		if err != nil {
			return nil, err
		}
		host := "_acme-challenge." + strings.TrimPrefix(domain, "*.") + "."
		if err := manage(ctx, opts.responder, "/set-txt", map[string]string{"host": host, "value": record}); err != nil {
			return nil, err
		}
		return func() {
			_ = manage(context.Background(), opts.responder, "/clear-txt", map[string]string{"host": host})
		}, nil
	}
	return nil, fmt.Errorf("unsupported challenge type %q", challenge.Type)
}

func manage(ctx context.Context, base, path string, body map[string]string) error {
	payload, _ := json.Marshal(body)
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		return fmt.Errorf("challtestsrv %s: %w", path, err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("challtestsrv %s: HTTP %d", path, response.StatusCode)
	}
	return nil
}

// finalize sends a CSR for the order's names (no common name, as cert-manager sends by default), then
// downloads the certificate again from its URL; both chains are written to opts.outDir.
func finalize(ctx context.Context, client *acme.Client, opts options, order *acme.Order) ([][]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{},
		DNSNames: opts.domains,
	}, key)
	if err != nil {
		return nil, err
	}
	chain, certURL, err := client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		return nil, fmt.Errorf("CreateOrderCert: %w", err)
	}
	report("certificate", map[string]interface{}{"url": certURL, "chain": len(chain)})
	fetched, err := client.FetchCert(ctx, certURL, true)
	if err != nil {
		return nil, fmt.Errorf("FetchCert: %w", err)
	}
	report("fetched", map[string]interface{}{"url": certURL, "chain": len(fetched)})
	if err := writeFiles(opts.outDir, key, chain, fetched); err != nil {
		return nil, err
	}
	return chain, nil
}

func writeFiles(dir string, key crypto.Signer, chain, fetched [][]byte) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"key.pem":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"chain.pem":   encodeChain(chain),
		"fetched.pem": encodeChain(fetched),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func encodeChain(chain [][]byte) []byte {
	var out []byte
	for _, der := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}
