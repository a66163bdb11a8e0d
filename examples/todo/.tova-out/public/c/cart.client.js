// Client module for the todo list's "remove" buttons, imported on first
// click from on:click="/c/cart.client.js?v=8f3a1c#Cart$removeItem".
export const Cart = {
  removeItem(event) {
    event.target.closest("li")?.remove();
  },
};
