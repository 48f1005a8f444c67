import { ref } from 'vue';
import { api } from './api.js';

// Loads one GET resource for a page: data, loading flag and the error (ApiError or null).
export function useFetch(path) {
  const data = ref(null);
  const error = ref(null);
  const loading = ref(false);

  async function reload() {
    loading.value = true;
    error.value = null;
    try {
      data.value = await api.get(path);
    } catch (err) {
      data.value = null;
      error.value = err;
    } finally {
      loading.value = false;
    }
  }

  reload();
  return { data, error, loading, reload };
}
