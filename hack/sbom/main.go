// Command sbom writes the SPDX 2.3 software bill of materials of the operator's container image:
// the image, the manager binary built for each platform, and every Go module linked into them, as
// each binary's own build information records them (what `go version -m` prints), so the list is
// what was linked, not what go.mod asks for. It reads nothing from the network and, given the
// same binaries and flags, writes the same bytes: the document's time is the commit's time.
//
//	go run ./hack/sbom -version v0.1.0 -revision $(git rev-parse HEAD) -created 1767225600 \
//	  -image-digest sha256:... -out bin/image/sbom.spdx.json bin/image/manager-linux-amd64 ...
//
// hack/image/build.sh runs it after the image is built; the release workflow attaches the result
// to the pushed image as a signed attestation (cosign attest --type spdxjson).
package main

import (
	"crypto/sha1" //nolint:gosec // SPDX 2.3 requires a SHA1 checksum of every file; SHA256 is given too
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// options are what the document says about the image besides what the binaries record.
type options struct {
	Name        string // the image's name, e.g. caseload-operator
	Repository  string // where it is published, e.g. ghcr.io/caseload-dev/caseload-operator
	Version     string // the release, e.g. v0.1.0
	Revision    string // the git commit it was built from
	Source      string // the repository's address
	License     string // the operator's own licence (SPDX identifier)
	ImageDigest string // the digest of the image index (sha256:...)
	Created     time.Time
}

// binary is one manager binary built into the image.
type binary struct {
	Path     string // inside the image, e.g. /manager
	Platform string // e.g. linux/amd64
	SHA1     string
	SHA256   string
	Info     *buildinfo.BuildInfo
}

func main() {
	var o options
	flag.StringVar(&o.Name, "name", "caseload-operator", "the image's name")
	flag.StringVar(&o.Repository, "repository", "ghcr.io/caseload-dev/caseload-operator", "where the image is published")
	flag.StringVar(&o.Version, "version", "v0.0.0-dev", "the release version")
	flag.StringVar(&o.Revision, "revision", "", "the git commit the image was built from")
	flag.StringVar(&o.Source, "source", "https://github.com/caseload-dev/caseload-operator", "the source repository's address")
	flag.StringVar(&o.License, "license", "Apache-2.0", "the operator's licence, as an SPDX identifier")
	flag.StringVar(&o.ImageDigest, "image-digest", "", "the digest of the image index (sha256:...)")
	created := flag.Int64("created", 0, "the document's creation time in seconds since the epoch (the commit's time, for a reproducible document)")
	out := flag.String("out", "", "where to write the document (standard output when empty)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: sbom [flags] BINARY... (each named manager-OS-ARCH, as hack/image/build.sh names them)")
		flag.PrintDefaults()
	}
	flag.Parse()
	o.Created = time.Unix(*created, 0).UTC()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var bins []binary
	for _, path := range flag.Args() {
		b, err := readBinary(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sbom:", err)
			os.Exit(1)
		}
		bins = append(bins, b)
	}
	doc, err := document(o, bins)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
	data = append(data, '\n')
	if *out == "" {
		_, _ = os.Stdout.Write(data)
		return
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

// platformOf reads the platform from a binary's file name, manager-linux-arm64.
var platformOf = regexp.MustCompile(`-([a-z0-9]+)-([a-z0-9]+)$`)

// readBinary reads a built binary's checksums and Go build information.
func readBinary(path string) (binary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return binary{}, err
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return binary{}, fmt.Errorf("%s holds no Go build information: %w", path, err)
	}
	m := platformOf.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return binary{}, fmt.Errorf("%s: name it manager-OS-ARCH, so the document can say which platform it is for", path)
	}
	s1, s256 := sha1.Sum(data), sha256.Sum256(data) //nolint:gosec // see the import
	return binary{Path: "/manager", Platform: m[1] + "/" + m[2], SHA1: hex.EncodeToString(s1[:]), SHA256: hex.EncodeToString(s256[:]), Info: info}, nil
}

// The SPDX 2.3 JSON document, as far as this image needs it.
type (
	spdxDocument struct {
		SPDXVersion       string             `json:"spdxVersion"`
		DataLicense       string             `json:"dataLicense"`
		SPDXID            string             `json:"SPDXID"`
		Name              string             `json:"name"`
		DocumentNamespace string             `json:"documentNamespace"`
		CreationInfo      spdxCreationInfo   `json:"creationInfo"`
		DocumentDescribes []string           `json:"documentDescribes"`
		Packages          []spdxPackage      `json:"packages"`
		Files             []spdxFile         `json:"files"`
		Relationships     []spdxRelationship `json:"relationships"`
	}
	spdxCreationInfo struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	}
	spdxPackage struct {
		SPDXID                string            `json:"SPDXID"`
		Name                  string            `json:"name"`
		VersionInfo           string            `json:"versionInfo,omitempty"`
		Supplier              string            `json:"supplier,omitempty"`
		DownloadLocation      string            `json:"downloadLocation"`
		FilesAnalyzed         bool              `json:"filesAnalyzed"`
		Checksums             []spdxChecksum    `json:"checksums,omitempty"`
		LicenseConcluded      string            `json:"licenseConcluded"`
		LicenseDeclared       string            `json:"licenseDeclared"`
		CopyrightText         string            `json:"copyrightText"`
		PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
		Description           string            `json:"description,omitempty"`
		Comment               string            `json:"comment,omitempty"`
		ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
	}
	spdxFile struct {
		SPDXID           string         `json:"SPDXID"`
		FileName         string         `json:"fileName"`
		FileTypes        []string       `json:"fileTypes"`
		Checksums        []spdxChecksum `json:"checksums"`
		LicenseConcluded string         `json:"licenseConcluded"`
		CopyrightText    string         `json:"copyrightText"`
		Comment          string         `json:"comment,omitempty"`
	}
	spdxChecksum struct {
		Algorithm     string `json:"algorithm"`
		ChecksumValue string `json:"checksumValue"`
	}
	spdxExternalRef struct {
		ReferenceCategory string `json:"referenceCategory"`
		ReferenceType     string `json:"referenceType"`
		ReferenceLocator  string `json:"referenceLocator"`
	}
	spdxRelationship struct {
		SPDXElementID      string `json:"spdxElementId"`
		RelationshipType   string `json:"relationshipType"`
		RelatedSPDXElement string `json:"relatedSpdxElement"`
	}
)

// idChars are the characters an SPDX identifier may hold besides letters and digits.
var notIDChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(kind, name string) string {
	return "SPDXRef-" + kind + "-" + strings.Trim(notIDChars.ReplaceAllString(name, "-"), "-")
}

// golangPURL is the package URL of a Go module (purl's golang type).
func golangPURL(path, version string) string {
	return "pkg:golang/" + path + "@" + url.PathEscape(version)
}

// document builds the SBOM: the image contains the manager binary of each platform; each binary
// is built from the operator's module with the Go standard library and the modules it records.
func document(o options, bins []binary) (spdxDocument, error) {
	if o.ImageDigest == "" || !strings.HasPrefix(o.ImageDigest, "sha256:") {
		return spdxDocument{}, fmt.Errorf("-image-digest %q: want the image index's sha256:... digest", o.ImageDigest)
	}
	imageID := spdxID("Image", o.Name)
	mainID := spdxID("Module", "caseload-operator")
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        o.Name + "-" + o.Version,
		// Unique per document, as SPDX asks, and the same for the same build.
		DocumentNamespace: "https://caseload.dev/spdx/" + o.Name + "/" + o.Version + "/" + strings.TrimPrefix(o.ImageDigest, "sha256:"),
		CreationInfo: spdxCreationInfo{
			Created:  o.Created.Format(time.RFC3339),
			Creators: []string{"Organization: the caseload-operator authors", "Tool: caseload-operator-hack-sbom"},
		},
		DocumentDescribes: []string{imageID},
	}
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: imageID, Name: o.Name, VersionInfo: o.Version,
		DownloadLocation: "NOASSERTION", LicenseConcluded: o.License, LicenseDeclared: o.License, CopyrightText: "NOASSERTION",
		PrimaryPackagePurpose: "CONTAINER",
		Description:           "The caseload-operator manager, FROM scratch: /manager and /etc/passwd and /etc/group naming the nonroot user 65532.",
		Checksums:             []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: strings.TrimPrefix(o.ImageDigest, "sha256:")}},
		ExternalRefs: []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl",
			ReferenceLocator: "pkg:oci/" + o.Name + "@" + strings.ReplaceAll(o.ImageDigest, ":", "%3A") + "?repository_url=" + o.Repository}},
	})
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: mainID, Name: "caseload.dev/caseload-operator", VersionInfo: o.Version,
		DownloadLocation: "git+" + o.Source + "@" + o.Revision, LicenseConcluded: o.License, LicenseDeclared: o.License, CopyrightText: "NOASSERTION",
		PrimaryPackagePurpose: "APPLICATION",
		Comment:               "built from commit " + o.Revision,
		ExternalRefs:          []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: golangPURL("caseload.dev/caseload-operator", o.Version)}},
	})
	doc.Relationships = append(doc.Relationships,
		spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", imageID},
		spdxRelationship{imageID, "CONTAINS", mainID})

	// The modules every binary links, once each: the platforms differ at most in which modules
	// they need, never in a module's version.
	type module struct{ path, version, sum string }
	modules := map[string]module{}
	toolchains := map[string]bool{}
	for _, b := range bins {
		if b.Info.Path != "caseload.dev/caseload-operator/cmd/manager" {
			return spdxDocument{}, fmt.Errorf("the binary for %s is %s, not the manager", b.Platform, b.Info.Path)
		}
		toolchains[b.Info.GoVersion] = true
		for _, d := range b.Info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			if m, ok := modules[d.Path]; ok && m.version != d.Version {
				return spdxDocument{}, fmt.Errorf("%s is linked at %s and at %s", d.Path, m.version, d.Version)
			}
			modules[d.Path] = module{d.Path, d.Version, d.Sum}
		}
		fileID := spdxID("File", "manager-"+b.Platform)
		var settings []string
		for _, s := range b.Info.Settings {
			settings = append(settings, s.Key+"="+s.Value)
		}
		doc.Files = append(doc.Files, spdxFile{
			SPDXID: fileID, FileName: "." + b.Path, FileTypes: []string{"BINARY", "APPLICATION"},
			Checksums:        []spdxChecksum{{Algorithm: "SHA1", ChecksumValue: b.SHA1}, {Algorithm: "SHA256", ChecksumValue: b.SHA256}},
			LicenseConcluded: "NOASSERTION", CopyrightText: "NOASSERTION",
			Comment: "the manager for " + b.Platform + ", built with " + b.Info.GoVersion + " (" + strings.Join(settings, " ") + ")",
		})
		doc.Relationships = append(doc.Relationships,
			spdxRelationship{imageID, "CONTAINS", fileID},
			spdxRelationship{fileID, "GENERATED_FROM", mainID})
	}
	if len(toolchains) != 1 {
		return spdxDocument{}, fmt.Errorf("the binaries were built with different Go toolchains: %v", toolchains)
	}
	for goVersion := range toolchains {
		version := strings.TrimPrefix(goVersion, "go")
		id := spdxID("Module", "stdlib")
		doc.Packages = append(doc.Packages, spdxPackage{
			SPDXID: id, Name: "stdlib", VersionInfo: version, Supplier: "Organization: the Go project",
			DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION", LicenseDeclared: "BSD-3-Clause", CopyrightText: "NOASSERTION",
			PrimaryPackagePurpose: "LIBRARY", Comment: "the Go standard library and runtime of " + goVersion,
			ExternalRefs: []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: golangPURL("stdlib", version)}},
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{mainID, "DEPENDS_ON", id})
	}
	paths := make([]string, 0, len(modules))
	for p := range modules {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		m := modules[p]
		id := spdxID("Module", m.path+"-"+m.version)
		pkg := spdxPackage{
			SPDXID: id, Name: m.path, VersionInfo: m.version,
			// Where a module comes from is the Go toolchain's business (GOPROXY); the purl names it.
			DownloadLocation: "NOASSERTION",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
			PrimaryPackagePurpose: "LIBRARY",
			ExternalRefs:          []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: golangPURL(m.path, m.version)}},
		}
		if m.sum != "" {
			// go.sum's h1: hash is of the module's file tree, not of one file: a comment, not an
			// SPDX checksum.
			pkg.Comment = "go.sum " + m.sum
		}
		doc.Packages = append(doc.Packages, pkg)
		doc.Relationships = append(doc.Relationships, spdxRelationship{mainID, "DEPENDS_ON", id})
	}
	return doc, nil
}
