"""Keyboard shortcuts of the page, served in its head by the launcher (app.py or a tab alone).

The script clicks the first visible button bound to a key, unless the key is typed into a field;
the buttons are the Review tab's (see ui/review.py for the keys), found by their elem_id.
"""

from __future__ import annotations

HOTKEYS_JS = """<script>
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const t = e.target, tag = (t && t.tagName || '').toLowerCase();
  if (['input', 'textarea', 'select'].includes(tag) || (t && t.isContentEditable)) return;
  const ids = {a: ['review-accept', 'review-grid-accept'],
    r: ['review-reject', 'review-grid-reject'], z: ['review-undo'], j: ['review-next'],
    k: ['review-prev'], ArrowRight: ['review-next'], ArrowLeft: ['review-prev'],
    i: ['review-ig']};
  for (const id of ids[e.key] || []) {
    const el = document.getElementById(id);
    if (!el || el.offsetParent === null) continue;  // hidden: another tab or view is shown
    const btn = el.tagName === 'BUTTON' ? el : el.querySelector('button');
    if (btn && !btn.disabled) { e.preventDefault(); btn.click(); }
    return;
  }
});
</script>"""
