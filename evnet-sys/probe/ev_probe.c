/*
 * evnet-sys layout/constant probe.
 *
 * Compiled by build.rs against the system <ev.h>. It reports, as a table of
 * (name, value) pairs, the facts that the hand-written Rust declarations in
 * evnet-sys depend on: sizes, alignments and field offsets of the watcher
 * structs, and the values of the enum constants and configuration macros.
 *
 * The file is used twice:
 *   - compiled into a static library that is linked into evnet-sys; the
 *     Rust side reads the table at run time through evnet_sys_probe_count()
 *     and evnet_sys_probe_entry() (see src/layout.rs and the tests);
 *   - when the build host can run target binaries, compiled a second time
 *     with EVNET_SYS_PROBE_MAIN defined into a small program whose output
 *     (Rust source) is included by src/layout.rs for compile-time checks.
 *
 * Nothing in here calls into libev; only the header is needed.
 */

#include <stddef.h>
#include <signal.h>
#include <ev.h>

#if EV_VERSION_MAJOR != 4
# error "evnet-sys requires the libev 4.x header (EV_VERSION_MAJOR == 4)"
#endif

#if !EV_MULTIPLICITY
# error "evnet-sys requires libev built with EV_MULTIPLICITY (the default)"
#endif

/* alignof without relying on C11 */
#define EVNET_ALIGNOF(type) offsetof (struct { char c; type member; }, member)

typedef struct evnet_sys_probe_entry_s
{
  const char *name;
  long long value;
} evnet_sys_probe_entry_t;

#define P_SIZE(t)     { "sizeof(" #t ")", (long long) sizeof (t) }
#define P_ALIGN(t)    { "alignof(" #t ")", (long long) EVNET_ALIGNOF (t) }
#define P_OFF(t, f)   { "offsetof(" #t ", " #f ")", (long long) offsetof (t, f) }
#define P_CONST(c)    { #c, (long long) (c) }
#define P_BOOL(c)     { #c " != 0", (long long) !!(c) }

#define P_WATCHER_COMMON(t) \
  P_SIZE (t), P_ALIGN (t),  \
  P_OFF (t, active),        \
  P_OFF (t, pending),       \
  P_OFF (t, priority),      \
  P_OFF (t, data),          \
  P_OFF (t, cb)

static const evnet_sys_probe_entry_t evnet_sys_probe_table[] = {
  /* scalar types */
  P_SIZE (ev_tstamp),
  P_ALIGN (ev_tstamp),
  { "ev_tstamp is floating point", (long long) ((ev_tstamp) 0.5 > (ev_tstamp) 0) },
  P_SIZE (sig_atomic_t),
  P_ALIGN (sig_atomic_t),
  { "sig_atomic_t is signed", (long long) ((sig_atomic_t) -1 < (sig_atomic_t) 0) },

  /* base "classes" */
  P_WATCHER_COMMON (ev_watcher),

  P_WATCHER_COMMON (ev_watcher_list),
  P_OFF (ev_watcher_list, next),

  P_WATCHER_COMMON (ev_watcher_time),
  P_OFF (ev_watcher_time, at),

  /* watchers we bind */
  P_WATCHER_COMMON (ev_io),
  P_OFF (ev_io, next),
  P_OFF (ev_io, fd),
  P_OFF (ev_io, events),

  P_WATCHER_COMMON (ev_timer),
  P_OFF (ev_timer, at),
  P_OFF (ev_timer, repeat),

  P_WATCHER_COMMON (ev_async),
  P_OFF (ev_async, sent),

  P_WATCHER_COMMON (ev_signal),
  P_OFF (ev_signal, next),
  P_OFF (ev_signal, signum),

  P_WATCHER_COMMON (ev_prepare),

  /* version and configuration */
  P_CONST (EV_VERSION_MAJOR),
  P_CONST (EV_VERSION_MINOR),
  P_CONST (EV_MINPRI),
  P_CONST (EV_MAXPRI),
  P_BOOL (EV_MULTIPLICITY),
  P_BOOL (EV_FEATURE_API),
  P_BOOL (EV_ASYNC_ENABLE),
  P_BOOL (EV_SIGNAL_ENABLE),
  P_BOOL (EV_PREPARE_ENABLE),

  /* event mask bits */
  P_CONST (EV_UNDEF),
  P_CONST (EV_NONE),
  P_CONST (EV_READ),
  P_CONST (EV_WRITE),
  P_CONST (EV__IOFDSET),
  P_CONST (EV_IO),
  P_CONST (EV_TIMER),
  P_CONST (EV_TIMEOUT),
  P_CONST (EV_PERIODIC),
  P_CONST (EV_SIGNAL),
  P_CONST (EV_CHILD),
  P_CONST (EV_STAT),
  P_CONST (EV_IDLE),
  P_CONST (EV_PREPARE),
  P_CONST (EV_CHECK),
  P_CONST (EV_EMBED),
  P_CONST (EV_FORK),
  P_CONST (EV_CLEANUP),
  P_CONST (EV_ASYNC),
  P_CONST (EV_CUSTOM),
  P_CONST (EV_ERROR),

  /* loop flags */
  P_CONST (EVFLAG_AUTO),
  P_CONST (EVFLAG_NOENV),
  P_CONST (EVFLAG_FORKCHECK),
  P_CONST (EVFLAG_NOINOTIFY),
  P_CONST (EVFLAG_NOSIGFD),
  P_CONST (EVFLAG_SIGNALFD),
  P_CONST (EVFLAG_NOSIGMASK),
  P_CONST (EVFLAG_NOTIMERFD),

  /* backends */
  P_CONST (EVBACKEND_SELECT),
  P_CONST (EVBACKEND_POLL),
  P_CONST (EVBACKEND_EPOLL),
  P_CONST (EVBACKEND_KQUEUE),
  P_CONST (EVBACKEND_DEVPOLL),
  P_CONST (EVBACKEND_PORT),
  P_CONST (EVBACKEND_LINUXAIO),
  P_CONST (EVBACKEND_IOURING),
  P_CONST (EVBACKEND_ALL),
  P_CONST (EVBACKEND_MASK),

  /* ev_run flags and ev_break modes */
  P_CONST (EVRUN_NOWAIT),
  P_CONST (EVRUN_ONCE),
  P_CONST (EVBREAK_CANCEL),
  P_CONST (EVBREAK_ONE),
  P_CONST (EVBREAK_ALL),
};

#define EVNET_SYS_PROBE_COUNT (sizeof (evnet_sys_probe_table) / sizeof (evnet_sys_probe_table[0]))

/* Number of entries in the probe table. */
size_t
evnet_sys_probe_count (void)
{
  return EVNET_SYS_PROBE_COUNT;
}

/* Entry number i of the probe table, or a null pointer when out of range. */
const evnet_sys_probe_entry_t *
evnet_sys_probe_entry (size_t i)
{
  return i < EVNET_SYS_PROBE_COUNT ? &evnet_sys_probe_table[i] : (const evnet_sys_probe_entry_t *) 0;
}

#ifdef EVNET_SYS_PROBE_MAIN
#include <stdio.h>

/* Prints the table as Rust source, for include!() by src/layout.rs. */
int
main (void)
{
  size_t i;

  printf ("// @generated by evnet-sys build.rs from probe/ev_probe.c; do not edit.\n");
  printf ("pub(crate) const BUILD_TIME_HEADER_VALUES: Option<&[(&str, i64)]> = Some(&[\n");
  for (i = 0; i < EVNET_SYS_PROBE_COUNT; ++i)
    printf ("    (\"%s\", %lld),\n", evnet_sys_probe_table[i].name, evnet_sys_probe_table[i].value);
  printf ("]);\n");

  return ferror (stdout) ? 1 : 0;
}
#endif
