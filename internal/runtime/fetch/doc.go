// Package fetch downloads the files a service names by http(s) URL: the
// executables of the process driver, the kernel images of the unikernel driver
// and the added files of the container drivers. A download goes through a
// temporary file and is renamed into place, so a partial download is never
// taken for the file; Cache keeps one copy per URL, so that the many instances
// of a service, started together or later, download it once.
package fetch
