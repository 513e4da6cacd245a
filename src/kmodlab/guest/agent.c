/*
 * kmodlab guest agent: runs inside the lab VM, never on the host.
 *
 * It serves one request at a time on a dedicated virtio-serial port named
 * "kmodlab.agent", separate from the kernel console
 * (ttyS0), so nothing a module prints with printk can reach this channel. Every message is length-prefixed, so no
 * output (a student's or a command's) can forge a frame either.
 *
 * Requests (one header line, then exactly the announced bytes):
 *   X <id> <timeout_ms> <len>\n<argv joined by NUL>   run a command
 *   P <id> <mode-octal> <pathlen> <datalen>\n<path><data>   write a file
 *   D <id>\n                                          drain the kernel log
 * The host sends a fresh random <id> with every request and accepts exactly
 * one response, carrying that id: a module that reaches the port and writes a
 * frame is caught by the host (another id, a second answer). Built-ins keep
 * no descriptor but stdin/stdout/stderr while they load student code.
 * Every request gets one response:
 *   R <id> <status> <value> <outlen> <errlen> <kmsglen> <ms>\n<out><err><kmsg>
 * status: E = exited (value = exit code), S = killed by signal (value =
 * signal), T = timed out (value = 0; the command may still be stuck, for
 * example in an init that never returns), F = failed to start (value =
 * errno). kmsg holds the raw /dev/kmsg records logged since the previous
 * response, so the host can show what each command caused.
 *
 * Built-in commands (argv[0] starting with '@') run in a forked child like
 * any other command, but without exec: under software emulation, starting
 * kmod (dynamically linked against libcrypto) costs ~100 ms, while the
 * syscalls themselves take a millisecond. Each load is ONE finit_module()
 * call, so an init that fails runs once (busybox's insmod retries).
 *   @load PATH [PARAMS]       finit_module(); exit 0, or print the error, exit errno
 *   @unload NAME              delete_module(O_NONBLOCK); exit 0 or errno
 *   @cycle PATH NAME N [PARAMS]  N times load then unload, printing "cycle I ok"
 *                                after each; stops at the first failure,
 *                                printing "cycle I load|unload ERRNO"
 *   @scrub                    fill free memory with zeros (see scrub_memory)
 *
 * Built static with the host's gcc; it needs only libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define AGENT_VERSION "1"
#define MAX_OUT (4 << 20)
#define MAX_REQ (64 << 20)
#define PORT_WAIT_MS 10000
#define SCRUB_RESERVE_KB (8 << 10)
#define BOOT_MODULES_LIST "/etc/kmodlab/boot-modules"
#define WORKDIR "/work"

static int chan = -1;
static int kmsg = -1;

struct buf {
	char *data;
	size_t len, cap;
	int truncated;
};

static void die(const char *what)
{
	dprintf(2, "kmodlab-agent: %s: %s\n", what, strerror(errno));
	_exit(1);
}

static void buf_add(struct buf *b, const char *p, size_t n, size_t limit)
{
	if (b->len + n > limit) {
		n = limit > b->len ? limit - b->len : 0;
		b->truncated = 1;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (!b->data)
			die("realloc");
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void read_exact(char *p, size_t n)
{
	while (n) {
		ssize_t r = read(chan, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read channel");
		p += r;
		n -= r;
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("write channel");
		p += r;
		n -= r;
	}
}

static void read_line(char *line, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char c;
		read_exact(&c, 1);
		if (c == '\n')
			break;
		if (n + 1 < cap)
			line[n++] = c;
	}
	line[n] = 0;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Each read() of /dev/kmsg returns exactly one record. */
static void drain_kmsg(struct buf *out)
{
	char rec[8192];
	for (;;) {
		ssize_t r = read(kmsg, rec, sizeof(rec));
		if (r < 0 && errno == EPIPE)
			continue; /* records overwritten before we read them */
		if (r <= 0)
			break;
		buf_add(out, rec, r, MAX_OUT);
		if (rec[r - 1] != '\n')
			buf_add(out, "\n", 1, MAX_OUT);
	}
}

static void respond(const char *id, char status, long value, struct buf *out,
		    struct buf *err, long ms)
{
	struct buf k = {0};
	char head[256];
	drain_kmsg(&k);
	int n = snprintf(head, sizeof(head), "R %s %c %ld %zu %zu %zu %ld\n", id,
			 status, value, out ? out->len : 0, err ? err->len : 0,
			 k.len, ms);
	write_all(chan, head, n);
	if (out && out->len)
		write_all(chan, out->data, out->len);
	if (err && err->len)
		write_all(chan, err->data, err->len);
	if (k.len)
		write_all(chan, k.data, k.len);
	free(k.data);
}

static void collect(int fd, struct buf *b, struct pollfd *p)
{
	char tmp[65536];
	ssize_t r = read(fd, tmp, sizeof(tmp));
	if (r > 0)
		buf_add(b, tmp, r, MAX_OUT);
	else if (r == 0 || (errno != EINTR && errno != EAGAIN))
		p->fd = -1;
}

static int load_module(const char *path, const char *params)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int r = syscall(SYS_finit_module, fd, params ? params : "", 0);
	int en = r ? errno : 0;
	close(fd);
	return en;
}

static int unload_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? errno : 0;
}

/* Touch all free memory but a reserve, then give it back: the kernel hands
 * out zeroed anonymous pages and nothing writes them after they are freed,
 * so free memory ends up all zeros. QEMU saves a zero page as a flag, so the
 * snapshot saved next is smaller and restores faster, without the cost of
 * init_on_free=1 zeroing every page at boot. */
static int scrub_memory(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long free_kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemFree: %ld kB", &free_kb) == 1)
			break;
	if (f)
		fclose(f);
	long bytes = (free_kb - SCRUB_RESERVE_KB) * 1024;
	if (bytes <= 0)
		return 0;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	munmap(p, bytes);
	printf("scrubbed %ld kB\n", bytes / 1024);
	return 0;
}

static int builtin(char **argv)
{
	int argc = 0, en;
	while (argv[argc])
		argc++;
	if (strcmp(argv[0], "@load") == 0 && argc >= 2) {
		en = load_module(argv[1], argc > 2 ? argv[2] : "");
		/* An exit status keeps 8 bits: the whole errno is on this line
		 * (init may return -EPROBE_DEFER, 517). */
		if (en)
			printf("load %s: %s (errno %d)\n", argv[1], strerror(en), en);
		return en;
	}
	if (strcmp(argv[0], "@unload") == 0 && argc == 2) {
		en = unload_module(argv[1]);
		if (en)
			printf("unload %s: %s (errno %d)\n", argv[1], strerror(en), en);
		return en;
	}
	if (strcmp(argv[0], "@cycle") == 0 && argc >= 4) {
		long n = atol(argv[3]);
		for (long i = 1; i <= n; i++) {
			if ((en = load_module(argv[1], argc > 4 ? argv[4] : ""))) {
				printf("cycle %ld load %d %s\n", i, en, strerror(en));
				return 1;
			}
			if ((en = unload_module(argv[2]))) {
				printf("cycle %ld unload %d %s\n", i, en, strerror(en));
				return 1;
			}
			/* Progress survives a timeout's SIGKILL: the host tells a
			 * stuck cycle from a slow one by the cycles done. */
			printf("cycle %ld ok\n", i);
			fflush(stdout);
		}
		printf("cycles %ld ok\n", n);
		return 0;
	}
	if (strcmp(argv[0], "@scrub") == 0 && argc == 1)
		return scrub_memory();
	printf("unknown built-in %s\n", argv[0]);
	return 127;
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Close every descriptor from `first` up (the channel, /dev/kmsg, the
 * agent's ends of the pipes). */
static void close_from(int first)
{
	if (syscall(SYS_close_range, first, ~0U, 0) == 0)
		return;
	for (int fd = first; fd < 1024; fd++)
		close(fd);
}

static pid_t spawn(char **argv, int *outfd, int *errfd, int *err_no)
{
	int o[2], e[2], x[2];
	if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC) || pipe2(x, O_CLOEXEC))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		setsid();
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		signal(SIGPIPE, SIG_DFL);
		if (argv[0][0] == '@') {
			/* A built-in runs student code (init, exit) in this very
			 * process, and no exec will apply O_CLOEXEC: a module could
			 * find the channel among current->files and forge answers.
			 * Keep only stdin/stdout/stderr: closing the error pipe too
			 * matters, or the agent waits on it while a stuck init runs. */
			close_from(3);
			int rc = builtin(argv);
			fflush(stdout);
			_exit(rc);
		}
		execvp(argv[0], argv);
		int en = errno;
		write(x[1], &en, sizeof(en));
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	close(x[1]);
	int en = 0;
	if (read(x[0], &en, sizeof(en)) == sizeof(en))
		*err_no = en;
	close(x[0]);
	*outfd = o[0];
	*errfd = e[0];
	return pid;
}

static void run_command(const char *id, long timeout_ms, char *payload, size_t len)
{
	char *argv[256];
	int argc = 0;
	for (size_t i = 0; i < len && argc < 255;) {
		argv[argc++] = payload + i;
		i += strlen(payload + i) + 1;
	}
	argv[argc] = NULL;
	if (argc == 0) {
		respond(id, 'F', EINVAL, NULL, NULL, 0);
		return;
	}
	long start = now_ms();
	int outfd, errfd, err_no = 0;
	pid_t pid = spawn(argv, &outfd, &errfd, &err_no);
	struct buf out = {0}, err = {0};
	struct pollfd p[2] = {{outfd, POLLIN, 0}, {errfd, POLLIN, 0}};
	int status = 0, exited = 0;
	while (!exited) {
		long left = timeout_ms - (now_ms() - start);
		if (left <= 0)
			break;
		int r = poll(p, 2, p[0].fd < 0 && p[1].fd < 0 ? (left < 5 ? left : 5) : left);
		if (r > 0) {
			if (p[0].fd >= 0 && p[0].revents)
				collect(outfd, &out, &p[0]);
			if (p[1].fd >= 0 && p[1].revents)
				collect(errfd, &err, &p[1]);
		}
		if (p[0].fd < 0 && p[1].fd < 0 && waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
	}
	char st = 'T';
	long value = 0;
	if (!exited) {
		/* A task stuck in an uninterruptible sleep (an init that never
		 * returns) survives SIGKILL; report the timeout and leave it. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	} else if (err_no) {
		st = 'F';
		value = err_no;
	} else if (WIFEXITED(status)) {
		st = 'E';
		value = WEXITSTATUS(status);
	} else {
		st = 'S';
		value = WTERMSIG(status);
	}
	close(outfd);
	close(errfd);
	respond(id, st, value, &out, &err, now_ms() - start);
	free(out.data);
	free(err.data);
}

static void put_file(const char *id, const char *path, mode_t mode, const char *data,
		     size_t len)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.part", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	long value = 0;
	if (fd < 0) {
		value = errno;
	} else {
		size_t off = 0;
		while (off < len) {
			ssize_t w = write(fd, data + off, len - off);
			if (w < 0) {
				value = errno;
				break;
			}
			off += w;
		}
		close(fd);
		if (!value && rename(tmp, path))
			value = errno;
	}
	respond(id, value ? 'F' : 'E', value, NULL, NULL, 0);
}

static char *read_payload(size_t len)
{
	if (len > MAX_REQ)
		die("request too large");
	char *p = malloc(len + 1);
	if (!p)
		die("malloc");
	read_exact(p, len);
	p[len] = 0;
	return p;
}

static void serve(void)
{
	char line[512];
	for (;;) {
		/* As PID 1 we inherit orphans and timed-out commands: reap them
		 * between requests, never while run_command waits for its child. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		read_line(line, sizeof(line));
		char id[64];
		long a = 0;
		unsigned long b = 0, c = 0;
		if (line[0] == 'X' && sscanf(line + 1, "%63s %ld %lu", id, &a, &b) == 3) {
			char *payload = read_payload(b);
			run_command(id, a, payload, b);
			free(payload);
		} else if (line[0] == 'P' &&
			   sscanf(line + 1, "%63s %lo %lu %lu", id, &a, &b, &c) == 4) {
			char *path = read_payload(b);
			char *data = read_payload(c);
			put_file(id, path, (mode_t)a, data, c);
			free(path);
			free(data);
		} else if (line[0] == 'D' && sscanf(line + 1, "%63s", id) == 1) {
			respond(id, 'E', 0, NULL, NULL, 0);
		} else if (line[0]) {
			dprintf(2, "kmodlab-agent: bad request: %.80s\n", line);
		}
	}
}

/* devtmpfs has /dev/vportNpM but not udev's by-name links: look the name up. */
static int lookup_port(const char *want, char *dev, size_t cap)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;
	while (!found && d && (e = readdir(d))) {
		char path[512], name[128] = {0};
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n > 0 && name[n - 1] == '\n')
			name[n - 1] = 0;
		if (strcmp(name, want) == 0) {
			snprintf(dev, cap, "/dev/%s", e->d_name);
			found = 1;
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* The port's name reaches the guest in a control message some time after the
 * driver has loaded: wait for it rather than open the wrong device. */
static const char *find_port(const char *want, char *dev, size_t cap)
{
	for (int waited_ms = 0; waited_ms < PORT_WAIT_MS; waited_ms += 2) {
		if (lookup_port(want, dev, cap))
			return dev;
		usleep(2000);
	}
	errno = ENODEV;
	die(want);
	return NULL;
}

/* Load the modules listed in FILE, one path a line, at boot. kmod would cost ~100 ms per module under emulation just to
 * start (it is dynamically linked); this is one syscall each. */
static int has_pci_devices(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int found = 0;
	while (!found && d && (e = readdir(d)))
		found = e->d_name[0] != '.';
	if (d)
		closedir(d);
	return found;
}

/* A line "pci PATH" is loaded only when there is a PCI bus (q35; microvm
 * has none, and its three PCI drivers would cost ~0.1 s of a cold boot). */
static int boot_load(const char *list)
{
	FILE *f = fopen(list, "r");
	char line[512];
	int failed = 0, pci = -1;
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *path = line;
		if (strncmp(path, "pci ", 4) == 0) {
			path += 4;
			if (pci < 0)
				pci = has_pci_devices();
			if (!pci)
				continue;
		}
		int en = path[0] ? load_module(path, "") : 0;
		if (en && en != EEXIST) {
			dprintf(2, "kmodlab-agent: cannot load %s: %s\n", path, strerror(en));
			failed = 1;
		}
	}
	if (f)
		fclose(f);
	return f ? failed : 1;
}

/* PID 1 of the guest (the kernel runs /init, a link to this program): mount
 * the pseudo filesystems the course inspects and load the virtio drivers
 * without a shell. Each exec costs tens of milliseconds under emulation, and
 * a cold boot is on the path of every guest that has no snapshot yet. */
static void init_system(void)
{
	static const struct {
		const char *type, *dir;
	} fs[] = {
		{"proc", "/proc"},       {"sysfs", "/sys"},     {"devtmpfs", "/dev"},
		{"debugfs", "/sys/kernel/debug"}, {"tracefs", "/sys/kernel/tracing"},
		{"tmpfs", "/tmp"},
	};
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		if (mount(fs[i].type, fs[i].dir, fs[i].type, 0, NULL) && errno != EBUSY)
			dprintf(2, "kmodlab-agent: mount %s: %s\n", fs[i].dir, strerror(errno));
	sethostname("kmodlab", 7);
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("HOME", "/root", 1);
	setenv("TERM", "dumb", 1);
	boot_load(BOOT_MODULES_LIST);
	/* Booted `quiet` for speed; from now on module messages and oopses must
	 * reach the console (ttyS0), where the host watches for crashes. */
	int fd = open("/proc/sys/kernel/printk", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		write(fd, "7\n", 2);
		close(fd);
	}
	/* Commands run where the student's modules are, so `insmod hello.ko` works. */
	if (chdir(WORKDIR))
		dprintf(2, "kmodlab-agent: chdir %s: %s\n", WORKDIR, strerror(errno));
}

int main(int argc, char **argv)
{
	char found[300];
	if (getpid() == 1) {
		/* The kernel passes unknown boot parameters as arguments: ignore them. */
		init_system();
		argc = 1;
	}
	const char *dev = argc > 1 ? argv[1] : find_port("kmodlab.agent", found, sizeof(found));
	signal(SIGPIPE, SIG_IGN);
	chan = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (chan < 0)
		die(dev);
	struct termios t;
	if (tcgetattr(chan, &t) == 0) {
		/* Raw: no echo, no CR/LF translation, byte-exact frames. */
		cfmakeraw(&t);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		cfsetispeed(&t, B115200);
		cfsetospeed(&t, B115200);
		tcsetattr(chan, TCSANOW, &t);
	}
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg < 0)
		die("/dev/kmsg");
	/* Start the log after boot: the host wants what commands cause. */
	lseek(kmsg, 0, SEEK_END);
	char ready[] = "KMODLAB-AGENT-READY " AGENT_VERSION "\n";
	write_all(chan, ready, strlen(ready));
	serve();
	return 0;
}
