// The calls of the vwin admin pages: a load (loading flag; its failure's message in error)
// and the page's actions (busy holds the running action's key, so that only its button
// spins; a failure goes to error unless the action takes it itself).
import { ref } from 'vue';

export function useRun() {
  const loading = ref(false);
  const error = ref('');
  const busy = ref('');

  async function load(fn) {
    loading.value = true;
    error.value = '';
    try {
      await fn();
    } catch (err) {
      error.value = err.message;
    } finally {
      loading.value = false;
    }
  }

  async function act(key, fn, onError = (err) => (error.value = err.message)) {
    busy.value = key;
    try {
      await fn();
    } catch (err) {
      onError(err);
    } finally {
      busy.value = '';
    }
  }

  return { loading, error, busy, load, act };
}
