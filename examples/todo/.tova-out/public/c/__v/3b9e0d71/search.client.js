// Search island, loaded on first use from /c/__v/3b9e0d71/search.client.js.
export function search(list, query) {
  const q = query.trim().toLowerCase();
  return list.filter((item) => item.toLowerCase().includes(q));
}
