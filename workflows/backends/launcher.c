/* Start the calls of one run that one submit sends, inside one bubblewrap sandbox (sandbox.launcher_args).

   Built by `make launcher` (sandbox.launcher_binary names the build), run inside that sandbox, never
   linked into Batchsite. bubblewrap already made the sandbox's namespaces (network, IPC, UTS, cgroup), its
   read-only root and /etc, and bound each call's execution directory and inputs under STAGE. For each
   call this process forks a keeper, which, like the job script of a call started alone, records its
   pid in `launch` (exactly once), starts the call and writes its `rc` when it ends. The call itself
   runs under pid 1 of a pid namespace of its own (every process it leaves ends with it), in a mount
   namespace of its own where fresh file systems cover every folder it needs and only its execution
   directory (writable, but for script, launch and rc) and its own inputs (read-only) are bound in;
   STAGE is gone from it. It runs as nobody, with no capabilities, no new privileges and a clean
   environment.

   STAGE/jobs holds NUL-terminated fields (sandbox.launcher_jobs writes them):
     FORMAT uid gid PATH
     count, then each top folder to cover with a fresh file system
     count, then (staged, path) of each read-only path of every call
     count, then each call: staged execution, execution, memory bytes (0: none),
                            count, then (staged, path) of each of its inputs                          */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define STAGE "/.batchsite-stage"
#define FORMAT "batchsite-launcher-1"
#define MAX_JOBS_FILE (256L << 20)

struct pair { const char *staged, *path; };
struct job { const char *staged, *execution; unsigned long long memory; size_t ninputs; struct pair *inputs; };

static uid_t uid;
static gid_t gid;
static const char *search_path;
static size_t ntops, nread_only, njobs;
static const char **tops;
static struct pair *read_only;
static struct job *jobs;

/* Say what went wrong on stderr (the launcher's log, or once a keeper redirected it, the call's
   stderr, where its logs are read) and end this process with 127. */
static void die(const char *format, ...) {
    char message[PATH_MAX + 256];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    dprintf(2, "batchsite: %s\n", message);
    _exit(127);
}

/* ---- the jobs file ---------------------------------------------------------------------- */

static char *cursor, *end;

static const char *field(void) {
    char *start = cursor, *nul = memchr(cursor, '\0', (size_t)(end - cursor));
    if (nul == NULL)
        die("the jobs file ends in the middle of a field");
    cursor = nul + 1;
    return start;
}

static unsigned long long number(unsigned long long most) {
    const char *text = field();
    char *after;
    errno = 0;
    unsigned long long value = strtoull(text, &after, 10);
    if (errno != 0 || after == text || *after != '\0' || value > most)
        die("the jobs file holds %s where a number up to %llu belongs", text, most);
    return value;
}

/* An absolute path, short enough that every name made from it below (path/script, HOME=path/tmp) fits. */
static const char *absolute(void) {
    const char *path = field();
    if (path[0] != '/' || strlen(path) >= PATH_MAX - 32)
        die("the jobs file holds %.200s where an absolute path of under %d bytes belongs", path, PATH_MAX - 32);
    return path;
}

static struct pair *pairs(size_t *count) {
    *count = number(1000000);
    struct pair *read = calloc(*count ? *count : 1, sizeof *read);
    if (read == NULL)
        die("out of memory");
    for (size_t i = 0; i < *count; i++) {
        read[i].staged = absolute();
        read[i].path = absolute();
    }
    return read;
}

static void jobs_read(void) {
    int fd = open(STAGE "/jobs", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("cannot read the jobs file: %s", strerror(errno));
    if (st.st_size <= 0 || st.st_size > MAX_JOBS_FILE)
        die("the jobs file is empty or over %ld bytes", MAX_JOBS_FILE);
    char *data = malloc((size_t)st.st_size);
    if (data == NULL)
        die("out of memory");
    for (off_t done = 0; done < st.st_size;) {
        ssize_t n = read(fd, data + done, (size_t)(st.st_size - done));
        if (n <= 0)
            die("cannot read the jobs file: %s", n < 0 ? strerror(errno) : "it ended early");
        done += n;
    }
    close(fd);
    cursor = data;
    end = data + st.st_size;
    if (strcmp(field(), FORMAT) != 0)
        die("the jobs file is not in the format " FORMAT " (rebuild the launcher: make launcher)");
    uid = (uid_t)number(65535);
    gid = (gid_t)number(65535);
    search_path = field();
    ntops = number(100000);
    tops = calloc(ntops ? ntops : 1, sizeof *tops);
    if (tops == NULL)
        die("out of memory");
    for (size_t i = 0; i < ntops; i++)
        tops[i] = absolute();
    read_only = pairs(&nread_only);
    njobs = number(100000);
    jobs = calloc(njobs ? njobs : 1, sizeof *jobs);
    if (jobs == NULL)
        die("out of memory");
    for (size_t i = 0; i < njobs; i++) {
        jobs[i].staged = absolute();
        jobs[i].execution = absolute();
        jobs[i].memory = number(ULLONG_MAX);
        jobs[i].inputs = pairs(&jobs[i].ninputs);
    }
    if (cursor != end)
        die("the jobs file goes on after its last call");
}

/* ---- a call's view: its own mount namespace ------------------------------------------------- */

static void mount_or_die(const char *source, const char *target, const char *type, unsigned long flags,
                         const char *data) {
    if (mount(source, target, type, flags, data) != 0)
        die("the call's sandbox could not be made: mount %s: %s", target, strerror(errno));
}

static void makedirs(const char *path) {
    char partial[PATH_MAX];
    if (snprintf(partial, sizeof partial, "%s", path) >= (int)sizeof partial)
        die("the call's sandbox could not be made: %s is too long", path);
    for (char *slash = partial + 1;; slash++) {
        if (*slash == '/' || *slash == '\0') {
            char was = *slash;
            *slash = '\0';
            if (mkdir(partial, 0755) != 0 && errno != EEXIST)
                die("the call's sandbox could not be made: mkdir %s: %s", partial, strerror(errno));
            *slash = was;
            if (was == '\0')
                return;
        }
    }
}

/* Bind source at target (made first, as a folder or an empty file like source), read-only if asked. */
static void bind(const char *source, const char *target, int read_only_bind) {
    struct stat st;
    if (lstat(target, &st) != 0) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", target);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent) {
            *slash = '\0';
            makedirs(parent);
        }
        if (stat(source, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (mkdir(target, 0755) != 0)
                die("the call's sandbox could not be made: mkdir %s: %s", target, strerror(errno));
        } else {
            int fd = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);
            if (fd < 0)
                die("the call's sandbox could not be made: create %s: %s", target, strerror(errno));
            close(fd);
        }
    }
    mount_or_die(source, target, NULL, MS_BIND | MS_REC, NULL);
    if (read_only_bind)
        mount_or_die(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

static int by_path(const void *a, const void *b) {
    return strcmp(((const struct pair *)a)->path, ((const struct pair *)b)->path);
}

/* Make this mount namespace show the call its own execution directory and inputs, nothing else. */
static void view(const struct job *job) {
    char source[PATH_MAX], target[PATH_MAX];
    int tmp_covered = 0;
    mount_or_die(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    for (size_t i = 0; i < ntops; i++) { /* fresh, empty file systems over every folder the paths go through */
        int is_tmp = strcmp(tops[i], "/tmp") == 0;
        tmp_covered |= is_tmp;
        mount_or_die("tmpfs", tops[i], "tmpfs", MS_NOSUID | MS_NODEV, is_tmp ? "mode=1777" : "mode=0755");
    }
    if (!tmp_covered)
        mount_or_die("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_or_die("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    bind(job->staged, job->execution, 0);
    static const char *const own[] = {"script", "launch", "rc"}; /* the command cannot end its call early or forge its pid */
    for (size_t i = 0; i < 3; i++) {
        if (snprintf(source, sizeof source, "%s/%s", job->staged, own[i]) >= (int)sizeof source
            || snprintf(target, sizeof target, "%s/%s", job->execution, own[i]) >= (int)sizeof target)
            die("the call's sandbox could not be made: %s is too long", job->execution);
        bind(source, target, 1);
    }
    size_t nbinds = nread_only + job->ninputs;
    struct pair *binds = calloc(nbinds ? nbinds : 1, sizeof *binds);
    if (binds == NULL)
        die("out of memory");
    memcpy(binds, read_only, nread_only * sizeof *binds);
    memcpy(binds + nread_only, job->inputs, job->ninputs * sizeof *binds);
    qsort(binds, nbinds, sizeof *binds, by_path); /* a folder before what is bound inside it */
    for (size_t i = 0; i < nbinds; i++)
        bind(binds[i].staged, binds[i].path, 1);
    for (size_t i = 0; i < ntops; i++)
        if (strcmp(tops[i], "/tmp") != 0)
            mount_or_die(NULL, tops[i], NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
    if (umount2(STAGE, MNT_DETACH) != 0)
        die("the call's sandbox could not be made: umount " STAGE ": %s", strerror(errno));
    mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* ---- the three processes of a call -------------------------------------------------------- */

/* Become the call's command: nobody, no capabilities, no new privileges, a clean environment. */
static void command(const struct job *job) {
    if (job->memory != 0) {
        struct rlimit limit = {job->memory, job->memory};
        if (setrlimit(RLIMIT_DATA, &limit) != 0)
            die("the call's memory limit could not be set: %s", strerror(errno));
    }
    if (chdir(job->execution) != 0)
        die("cannot enter %s: %s", job->execution, strerror(errno));
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) /* no close_range (Linux before 5.9): one at a time */
        for (long fd = 3, most = sysconf(_SC_OPEN_MAX); fd < most; fd++)
            close((int)fd);
    if (setgroups(0, NULL) != 0)
        die("setgroups: %s", strerror(errno));
    for (int capability = 0; capability < 64; capability++)
        if (prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0)
            break; /* past the last capability this kernel knows */
    if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) /* from root to nobody: every capability goes */
        die("cannot become uid %u: %s", (unsigned)uid, strerror(errno));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die("no_new_privs: %s", strerror(errno));
    char script[PATH_MAX], path[PATH_MAX + 8], home[PATH_MAX + 8], tmpdir[PATH_MAX + 8];
    snprintf(script, sizeof script, "%s/script", job->execution);
    snprintf(path, sizeof path, "PATH=%s", search_path);
    snprintf(home, sizeof home, "HOME=%s/tmp", job->execution);
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s/tmp", job->execution);
    char *const argv[] = {"/bin/bash", script, "task", NULL};
    char *const envp[] = {path, home, tmpdir, NULL};
    execve("/bin/bash", argv, envp);
    die("cannot run /bin/bash: %s", strerror(errno));
}

static int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Be pid 1 of the call's pid namespace: set its view up, run the command, end with it. */
static void init(const struct job *job) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* its keeper killed: the call goes too */
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
        die("the call's sandbox could not be made: unshare: %s", strerror(errno));
    if (sethostname("batchsite", 9) != 0)
        die("the call's sandbox could not be made: sethostname: %s", strerror(errno));
    view(job);
    pid_t child = fork();
    if (child < 0)
        die("the call's sandbox could not be made: fork: %s", strerror(errno));
    if (child == 0)
        command(job);
    for (;;) { /* reap what the command leaves; its own end ends the namespace */
        int status;
        pid_t pid = wait(&status);
        if (pid == child)
            _exit(exit_code(status));
        if (pid < 0 && errno != EINTR)
            _exit(127);
    }
}

static int open_in_stage(const struct job *job, const char *name, int flags) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", job->staged, name);
    return open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0644);
}

/* Start one call exactly once and write its rc when it ends. */
static void keep(const struct job *job) {
    setsid(); /* a process group of its own: an abort kills it and everything under it */
    int fd = open_in_stage(job, "launch", O_WRONLY | O_CREAT | O_EXCL);
    if (fd < 0) {
        if (errno == EEXIST)
            _exit(0); /* started already (a repeated submit) */
        die("cannot start the call in %s: launch: %s", job->execution, strerror(errno));
    }
    dprintf(fd, "%d\n", (int)getpid());
    close(fd);
    fd = open_in_stage(job, "rc", O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0)
        die("cannot start the call in %s: rc: %s", job->execution, strerror(errno));
    close(fd);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open_in_stage(job, "stdout", O_WRONLY | O_CREAT | O_TRUNC);
    int err = open_in_stage(job, "stderr", O_WRONLY | O_CREAT | O_TRUNC);
    if (null < 0 || out < 0 || err < 0)
        die("cannot start the call in %s: its stdout or stderr: %s", job->execution, strerror(errno));
    if (dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        die("dup2: %s", strerror(errno));
    close(null);
    close(out);
    close(err);
    if (unshare(CLONE_NEWPID) != 0)
        die("the call's sandbox could not be made: unshare: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0)
        die("the call's sandbox could not be made: fork: %s", strerror(errno));
    if (child == 0)
        init(job);
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    /* The command owned the directory and may have left anything there: the rc goes to a new,
       unguessable file first, never through a link, then replaces rc. */
    char temporary[PATH_MAX], rc[PATH_MAX];
    snprintf(temporary, sizeof temporary, "%s/.rc.XXXXXX", job->staged);
    snprintf(rc, sizeof rc, "%s/rc", job->staged);
    fd = mkostemp(temporary, O_CLOEXEC);
    if (fd < 0)
        die("cannot write the call's rc: %s", strerror(errno));
    dprintf(fd, "%d\n", exit_code(status));
    fchmod(fd, 0644);
    close(fd);
    if (rename(temporary, rc) != 0)
        die("cannot write the call's rc: %s", strerror(errno));
    _exit(0);
}

int main(void) {
    jobs_read();
    for (size_t i = 0; i < njobs; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0)
            keep(&jobs[i]);
    }
    return 0;
}
