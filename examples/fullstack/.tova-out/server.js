import "./server.7b27ae0b689f.js";
