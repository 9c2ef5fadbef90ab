// Package image checks the operator's container image as a council's cluster would run it. It is
// built by hack/image/build.sh (`make image`) with buildah FROM scratch into an OCI archive; the
// tests read that archive with nothing but the Go standard library (no registry, no container
// engine), unpack the image's filesystem and run its entrypoint as its user under chroot against
// a real kube-apiserver. This file reads the archive; test/release uses it too.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// OCI media types the archive holds.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Descriptor points at a blob (OCI image spec, descriptor.md).
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *Platform         `json:"platform,omitempty"`
}

// Platform is an image's operating system and architecture.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
}

// Index lists manifests (image-index.md).
type Index struct {
	MediaType string       `json:"mediaType"`
	Manifests []Descriptor `json:"manifests"`
}

// Manifest is one image: its config and layers (manifest.md).
type Manifest struct {
	MediaType string       `json:"mediaType"`
	Config    Descriptor   `json:"config"`
	Layers    []Descriptor `json:"layers"`
}

// Config is the image's configuration (config.md), as far as the tests read it.
type Config struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string            `json:"User"`
		Env        []string          `json:"Env"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// Image is one platform's image in the archive.
type Image struct {
	Digest   string // of its manifest
	Platform Platform
	Manifest Manifest
	Config   Config
}

// Archive is an OCI archive (an OCI image layout in a tar file) read into memory, its blobs
// checked against their digests.
type Archive struct {
	// Ref is the name the index is tagged with (org.opencontainers.image.ref.name).
	Ref string
	// Digest is the digest of the index over the platforms' images: what a deployment pins.
	Digest string
	Index  Index
	blobs  map[string][]byte
}

// OpenArchive reads the OCI archive at path. It expects what hack/image/build.sh writes: one
// entry in index.json, an image index over one image per platform.
func OpenArchive(file string) (*Archive, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &Archive{blobs: map[string][]byte{}}
	var top []byte
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		name := path.Clean(h.Name)
		switch {
		case name == "index.json":
			top = data
		case strings.HasPrefix(name, "blobs/sha256/"):
			digest := "sha256:" + strings.TrimPrefix(name, "blobs/sha256/")
			sum := sha256.Sum256(data)
			if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
				return nil, fmt.Errorf("%s: blob %s holds content of digest %s", file, digest, got)
			}
			a.blobs[digest] = data
		}
	}
	if top == nil {
		return nil, fmt.Errorf("%s has no index.json: not an OCI archive", file)
	}
	var layout Index
	if err := json.Unmarshal(top, &layout); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", file, err)
	}
	if len(layout.Manifests) != 1 || layout.Manifests[0].MediaType != MediaTypeIndex {
		return nil, fmt.Errorf("%s: index.json should name one image index, not %+v", file, layout.Manifests)
	}
	a.Digest, a.Ref = layout.Manifests[0].Digest, layout.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
	if err := a.unmarshal(layout.Manifests[0], &a.Index); err != nil {
		return nil, err
	}
	return a, nil
}

// unmarshal decodes the JSON blob d points at, checking its size.
func (a *Archive) unmarshal(d Descriptor, v any) error {
	data, ok := a.blobs[d.Digest]
	if !ok {
		return fmt.Errorf("the archive lacks blob %s (%s)", d.Digest, d.MediaType)
	}
	if int64(len(data)) != d.Size {
		return fmt.Errorf("blob %s is %d bytes, its descriptor says %d", d.Digest, len(data), d.Size)
	}
	return json.Unmarshal(data, v)
}

// Images returns each platform's image of the index, in the index's order.
func (a *Archive) Images() ([]Image, error) {
	var out []Image
	for _, d := range a.Index.Manifests {
		if d.MediaType != MediaTypeManifest || d.Platform == nil {
			return nil, fmt.Errorf("the index names %s (%s) without a platform: want one image manifest per platform", d.Digest, d.MediaType)
		}
		img := Image{Digest: d.Digest, Platform: *d.Platform}
		if err := a.unmarshal(d, &img.Manifest); err != nil {
			return nil, err
		}
		if err := a.unmarshal(img.Manifest.Config, &img.Config); err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// ImageFor returns the image for os/arch.
func (a *Archive) ImageFor(os, arch string) (Image, error) {
	images, err := a.Images()
	if err != nil {
		return Image{}, err
	}
	for _, img := range images {
		if img.Platform.OS == os && img.Platform.Architecture == arch {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("the archive has no image for %s/%s", os, arch)
}

// Unpack writes the image's filesystem, layer by layer, into dir (as a container runtime lays
// it out, but with the files owned by whoever runs the test), and returns the header of every
// entry, in order, for the checks of what is in the image and who owns it.
func (a *Archive) Unpack(img Image, dir string) ([]*tar.Header, error) {
	var headers []*tar.Header
	for _, l := range img.Manifest.Layers {
		if l.MediaType != MediaTypeLayer {
			return nil, fmt.Errorf("layer %s is %s, want %s", l.Digest, l.MediaType, MediaTypeLayer)
		}
		data, ok := a.blobs[l.Digest]
		if !ok {
			return nil, fmt.Errorf("the archive lacks layer %s", l.Digest)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			name := path.Clean("/" + h.Name)
			if strings.HasPrefix(path.Base(name), ".wh.") {
				return nil, fmt.Errorf("layer %s holds a whiteout, %s: one layer FROM scratch deletes nothing", l.Digest, h.Name)
			}
			headers = append(headers, h)
			target := filepath.Join(dir, filepath.FromSlash(name))
			switch h.Typeflag {
			case tar.TypeDir:
				if err := os.MkdirAll(target, 0o755); err != nil {
					return nil, err
				}
				if err := os.Chmod(target, os.FileMode(h.Mode).Perm()); err != nil {
					return nil, err
				}
			case tar.TypeReg:
				if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
					return nil, err
				}
				f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode).Perm())
				if err != nil {
					return nil, err
				}
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return nil, err
				}
			case tar.TypeSymlink:
				if err := os.Symlink(h.Linkname, target); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("layer %s: %s is of tar type %q, which this image should not hold", l.Digest, h.Name, h.Typeflag)
			}
		}
		if err := zr.Close(); err != nil {
			return nil, err
		}
	}
	return headers, nil
}
