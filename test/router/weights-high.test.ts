import { weightSuite } from './weight-suite.js';

weightSuite([20, 50], false);
