import "./server.c9aa5f1f78b2.js";
