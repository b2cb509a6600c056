/* Run a process as if its CPU lacked VNNI (and, for "avx2", AVX-512 too), on this CPU.
 *
 * ONNX Runtime picks its integer kernels by what the CPUID instruction reports: with
 * VNNI a u8 x s8 product is one exact instruction, without it a pair of products is
 * summed in 16 bits and can saturate (the reason int8 weights are 7-bit, embed.py).
 * A CPU without VNNI is not at hand, but Linux can make CPUID trap (ARCH_SET_CPUID,
 * "cpuid_fault" in /proc/cpuinfo): this library, loaded with LD_PRELOAD, answers each
 * CPUID itself with those feature bits cleared, so the process runs the very kernels
 * such a CPU runs, natively, at this CPU's speed. `qemu-x86_64 -cpu Haswell` gives
 * the same vectors bit for bit, some hundred times slower.
 *
 *   CPUID_MASK=avx2    no AVX-512, no VNNI, no AMX (Haswell to Zen 3, many laptops)
 *   CPUID_MASK=avx512  AVX-512 without VNNI or AMX (Skylake-SP servers)
 *
 * Only Python processes are masked (the other programs a test starts, Chromium, a
 * Milvus server, Ray's own, are left as they are). The setting is inherited by threads
 * and reset by execve. A SIGSEGV handler the process installs later (Python's
 * faulthandler, Ray's) is kept aside and called for every fault that is no CPUID.
 * Built and used by benchmarks/cpu_kinds.py.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_SET_CPUID 0x1012
#define BIT(n) (1u << (n))

static int avx2_only, masking;
static struct sigaction theirs; /* the SIGSEGV handler the process asked for */
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void answer_cpuid(int sig, siginfo_t *info, void *context) {
    greg_t *r = ((ucontext_t *)context)->uc_mcontext.gregs;
    const uint8_t *ip = (const uint8_t *)r[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) { /* a real fault: the process's own handler, or a crash */
        if (theirs.sa_flags & SA_SIGINFO && theirs.sa_sigaction) {
            theirs.sa_sigaction(sig, info, context);
        } else if (theirs.sa_handler != SIG_DFL && theirs.sa_handler != SIG_IGN) {
            theirs.sa_handler(sig);
        } else {
            struct sigaction fall = {0};
            fall.sa_handler = SIG_DFL;
            real_sigaction(SIGSEGV, &fall, NULL); /* the fault happens again and ends the process */
        }
        return;
    }
    uint32_t leaf = (uint32_t)r[REG_RAX], sub = (uint32_t)r[REG_RCX], a, b, c, d;
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __cpuid_count(leaf, sub, a, b, c, d);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (leaf == 7 && sub == 0) {
        c &= ~BIT(11);                               /* AVX512_VNNI */
        d &= ~(BIT(2) | BIT(22) | BIT(24) | BIT(25)); /* AVX512_4VNNIW, AMX_BF16, AMX_TILE, AMX_INT8 */
        if (avx2_only) {
            /* AVX512 F, DQ, IFMA, PF, ER, CD, BW, VL; VBMI, VBMI2, BITALG, VPOPCNTDQ; 4FMAPS, VP2INTERSECT, FP16 */
            b &= ~(BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31));
            c &= ~(BIT(1) | BIT(6) | BIT(12) | BIT(14));
            d &= ~(BIT(3) | BIT(8) | BIT(23));
        }
    } else if (leaf == 7 && sub == 1) {
        a &= ~(BIT(4) | BIT(5)); /* AVX_VNNI, AVX512_BF16 */
        d &= ~BIT(4);            /* AVX_VNNI_INT8 */
    }
    r[REG_RAX] = a, r[REG_RBX] = b, r[REG_RCX] = c, r[REG_RDX] = d;
    r[REG_RIP] += 2; /* past the CPUID instruction */
}

/* The process's own SIGSEGV handlers are kept aside, not installed (see above). */
int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    if (!real_sigaction) real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    if (sig != SIGSEGV || !masking) return real_sigaction(sig, act, old);
    if (old) *old = theirs;
    if (act) theirs = *act;
    return 0;
}

sighandler_t signal(int sig, sighandler_t handler) {
    struct sigaction act = {0}, old;
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    return sigaction(sig, &act, &old) == 0 ? old.sa_handler : SIG_ERR;
}

__attribute__((constructor)) static void mask_cpuid(void) {
    real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    const char *name = strrchr(exe, '/');
    if (strncmp(name ? name + 1 : exe, "python", 6) != 0) return;
    const char *mask = getenv("CPUID_MASK");
    avx2_only = !(mask && strcmp(mask, "avx512") == 0);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = answer_cpuid;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    real_sigaction(SIGSEGV, &action, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        perror("cpuid_mask: this CPU or kernel cannot make CPUID trap");
        _exit(97);
    }
    masking = 1;
}
