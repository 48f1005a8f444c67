// Window-wide keyboard shortcuts of the clerk console (F2 读卡, F3 手工录入, F4 事项查找,
// Ctrl+S 保存, Ctrl+Enter 受理): a page registers the keys it serves while it is mounted.
import { onBeforeUnmount, onMounted } from 'vue';

/** The shortcuts as shown to the clerk. */
export const SHORTCUTS = [
  ['F2', '读卡'],
  ['F3', '手工录入'],
  ['F4', '查找事项'],
  ['Ctrl+S', '保存表单'],
  ['Ctrl+Enter', '受理'],
];

function keyName(ev) {
  const parts = [];
  if (ev.ctrlKey || ev.metaKey) parts.push('Ctrl');
  if (ev.altKey) parts.push('Alt');
  parts.push(ev.key.length === 1 ? ev.key.toUpperCase() : ev.key);
  return parts.join('+');
}

/**
 * map: { 'F2': fn, 'Ctrl+S': fn, 'Ctrl+Enter': fn } — a handler returning false lets the
 * browser have the key. Handlers run even while an input has the focus (a clerk types a
 * number and presses Ctrl+Enter).
 */
export function useHotkeys(map) {
  function onKey(ev) {
    const fn = map[keyName(ev)];
    if (!fn || ev.repeat) return;
    if (fn(ev) === false) return;
    ev.preventDefault();
    ev.stopPropagation();
  }
  onMounted(() => window.addEventListener('keydown', onKey, true));
  onBeforeUnmount(() => window.removeEventListener('keydown', onKey, true));
}
