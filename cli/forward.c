/* forward.c — see forward.h. Flushed at once, so interleaving with the
 * host's own messages stays in order.
 *
 * On a terminal, sandbox output could drive the terminal itself: escape
 * sequences can move the cursor over earlier lines, retitle the window,
 * rewrite what the host printed, or (on some terminals) answer back as if
 * typed. So, unless raw output was asked for, control characters other than
 * tab, newline and carriage return are shown the way `cat -v` shows them
 * (ESC as ^[, DEL as ^?), and the C1 controls U+0080..U+009F (which some
 * terminals obey like ESC sequences) as \u0080..\u009f. Not a terminal:
 * the bytes pass unchanged. */
#include "forward.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

typedef struct {
  FILE *f;
  bool neutralize;
  bool pending_c2; /* the previous chunk ended in 0xC2 (a C1 control may follow) */
} stream;

static stream out_stream, err_stream;

void forward_init(int raw) {
  out_stream = (stream){stdout, !raw && isatty(1), false};
  err_stream = (stream){stderr, !raw && isatty(2), false};
}

static void put_neutral(stream *s, const unsigned char *p, size_t len) {
  size_t run = 0; /* bytes of p[start..] that pass as they are */
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = p[i];
    bool c1 = false;
    if (s->pending_c2) {
      s->pending_c2 = false;
      if (c >= 0x80 && c <= 0x9f) {
        fprintf(s->f, "\\u%04x", c);
        start = i + 1;
        run = 0;
        continue;
      }
      fputc(0xc2, s->f);
    }
    if (c == 0xc2) {
      c1 = i + 1 < len ? p[i + 1] >= 0x80 && p[i + 1] <= 0x9f : true;
      if (c1) {
        fwrite(p + start, 1, run, s->f);
        if (i + 1 < len) {
          fprintf(s->f, "\\u%04x", p[i + 1]);
          i++;
        } else {
          s->pending_c2 = true; /* decided by the next chunk */
        }
        start = i + 1;
        run = 0;
        continue;
      }
    }
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      fwrite(p + start, 1, run, s->f);
      fputc('^', s->f);
      fputc(c == 0x7f ? '?' : c + 64, s->f);
      start = i + 1;
      run = 0;
      continue;
    }
    run++;
  }
  fwrite(p + start, 1, run, s->f);
}

static void forward(stream *s, const char *text, size_t len) {
  if (!s->f)
    forward_init(0);
  if (s->neutralize)
    put_neutral(s, (const unsigned char *)text, len);
  else
    fwrite(text, 1, len, s->f);
  fflush(s->f);
}

void forward_stdout(void *unused, const char *text, size_t len) {
  (void)unused;
  forward(&out_stream, text, len);
}

void forward_stderr(void *unused, const char *text, size_t len) {
  (void)unused;
  forward(&err_stream, text, len);
}
